"""``chaos-audit explore``: randomized fault schedules under load, checked continuously, shrunk.

A round is a schedule (:mod:`.schedule`) drawn from the seed (:mod:`.generator`, :mod:`.nemesis`):
workload ops and faults as lines of the session's command language, so the minimal failing round
is saved as a ``chaos-audit session --script`` file as it is (:mod:`.reproducer`). A round runs on
a live stack (:mod:`.runner`) while the continuous checker (:mod:`.checks`) runs the checks that
are valid mid-fault; after the round's final heal and quiet period the end-state checks run. On a
violation the round is replayed on fresh stacks, reduced (:mod:`.shrinker`), and reported.
"""
