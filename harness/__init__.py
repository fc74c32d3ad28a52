"""chaos-audit: a fault-injection harness that audits how job systems recover from failure.

The library is organised by one shared vocabulary: a *target* (what is audited) runs as a
*stack* of *services*; *faults* are injected and *healed*; every *op* and fault lands in one
*history*; *checkers* turn the history and the target's database into a *verdict* with *evidence*.
"""

__version__ = "0.1.0"
