"""``chaos-audit session``: the ad-hoc chaos console (a game day by hand).

``grammar`` parses a line into a command, ``engine`` runs it against the stack (faults, batches,
checks, one history), ``view`` renders states and active faults, ``console`` reads lines (readline
on a terminal, plain lines otherwise), ``script`` saves and loads replayable sessions, ``report``
writes the audit report with the session as one scenario, and ``command`` ties them together with
the cleanup that always runs; the stack is opened by ``harness.stack.lifecycle``, as for the audit.
"""
