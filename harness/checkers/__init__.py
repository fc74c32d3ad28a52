"""Checkers turn a history or the target's database into a verdict with grouped violations.

A checker never raises for a violation: it returns ``CheckResult(valid=False, ...)``. A checker
that crashes returns ``valid=UNKNOWN`` with the error attached (see ``harness.checkers.result``).
"""

from harness.checkers.result import CheckResult, Validity, ViolationGroup, run_checker

__all__ = ["CheckResult", "Validity", "ViolationGroup", "run_checker"]
