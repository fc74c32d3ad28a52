"""From a scenario's checks to its verdict: the outcome as a typed value, decided in one place.

A check is *decided* when it came out true or false. The rule (issue-tracker wording, kept exact):

- ``fail`` if any decided check is false (whatever else is undecided: a finding stays a finding);
- ``unknown`` if a *core* check (``harness.catalog.checks``) is undecided or was never reached;
- ``pass`` otherwise, with the undecided *secondary* checks listed beside it (``undecided``), so a
  reader sees what the audit could not look at on this target.

A check can also fail *because the target declares it lacks* what the seeds require (a summary, a
correlation id, a deadline...): :func:`absent_capability` builds that finding, so it never hides as
``unknown``. ``decide`` is a pure function of literal check results, tested without a stack.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from harness.catalog.checks import ScenarioChecks
from harness.checkers.result import CheckResult, Validity, ViolationGroup


class Verdict(StrEnum):
    """A scenario's verdict."""

    PASS = "pass"  #: every core check passed (see ``Outcome.undecided`` for what was not looked at)
    FAIL = "fail"  #: a decided check failed
    UNKNOWN = "unknown"  #: a core check could not be decided: never counted as a pass


@dataclass(frozen=True, kw_only=True)
class Undecided:
    """A check the audit could not decide, and why (the field it lacks, in words)."""

    name: str
    why: str
    core: bool

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "why": self.why, "core": self.core}


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What the scenario concluded: the verdict, the failed checks, and what stayed undecided."""

    verdict: Verdict
    failed: tuple[str, ...] = ()
    undecided: tuple[Undecided, ...] = field(default_factory=tuple)
    reason: str = ""

    @property
    def undecided_secondary(self) -> list[Undecided]:
        return [u for u in self.undecided if not u.core]


def decide(checks: Sequence[CheckResult], spec: ScenarioChecks) -> Outcome:
    """The verdict of ``checks`` under the scenario's ``spec`` (see the module docstring)."""
    by_name: dict[str, list[CheckResult]] = {}
    for c in checks:
        by_name.setdefault(c.name, []).append(c)
    failed = [c for c in checks if c.valid is Validity.FALSE]
    undecided: list[Undecided] = []
    for name, results in by_name.items():
        if any(r.valid is Validity.FALSE for r in results):
            continue
        open_ = [r for r in results if r.valid is Validity.UNKNOWN]
        if open_:
            undecided.append(Undecided(name=name, why=open_[0].error or "undecided", core=spec.is_core(name)))
    reached = {s.name for s in (spec.spec(n) for n in by_name) if s is not None}
    for pattern in spec.core_names:
        if pattern not in reached:
            undecided.append(Undecided(name=pattern, why="not reached by the scenario", core=True))
    if failed:
        names = tuple(dict.fromkeys(c.name for c in failed))
        return Outcome(
            verdict=Verdict.FAIL, failed=names, undecided=tuple(undecided),
            reason=" | ".join(c.summary() for c in failed),
        )  # fmt: skip
    if not checks:
        return Outcome(verdict=Verdict.UNKNOWN, reason="the scenario recorded no check")
    core_open = [u for u in undecided if u.core]
    if core_open:
        reason = "; ".join(f"{u.name}: {u.why}" for u in core_open)
        return Outcome(verdict=Verdict.UNKNOWN, undecided=tuple(undecided), reason=reason)
    return Outcome(verdict=Verdict.PASS, undecided=tuple(undecided))


def absent_capability(name: str, capability: str, why: str) -> CheckResult:
    """A check failed because the target file declares the system lacks ``capability``."""
    row = {"missing_capability": capability, "finding": f"the target has no {capability} ({why})"}
    return CheckResult.from_violations(name, [ViolationGroup.of("missing_capability", [row])], row)


def undecided_checks(names: Iterable[str], why: str) -> list[CheckResult]:
    """``unknown`` results for ``names`` (a block of checks that could not observe its input)."""
    return [CheckResult.unknown(n, why) for n in names]
