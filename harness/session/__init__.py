"""``chaos-audit session``: the ad-hoc chaos console (the fourth use of DESIGN.md §1).

``grammar`` parses a line into a command, ``engine`` runs it against the stack (faults, batches,
checks, one history), ``view`` renders states and active faults, ``console`` reads lines (readline
on a terminal, plain lines otherwise), ``script`` saves and loads replayable sessions, ``report``
writes the audit report with the session as one scenario, ``stackup`` brings the stack up outside
pytest, and ``command`` ties them together with the cleanup that always runs.
"""
