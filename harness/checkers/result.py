"""Checker results: valid true/false/unknown, evidence, and violations grouped Jepsen-style."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Validity(StrEnum):
    """Outcome of a checker."""

    TRUE = "true"  #: no violation found
    FALSE = "false"  #: at least one violation
    UNKNOWN = "unknown"  #: the checker could not decide (crashed, or input missing)


@dataclass(frozen=True, kw_only=True)
class ViolationGroup:
    """All violations of one kind, summarised: how many, the first, the worst and the last."""

    kind: str
    count: int
    first: Mapping[str, Any]
    worst: Mapping[str, Any]
    last: Mapping[str, Any]

    @classmethod
    def of(
        cls,
        kind: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        worst_key: Callable[[Mapping[str, Any]], Any] | None = None,
    ) -> ViolationGroup:
        """Group ``rows`` (in the order found); ``worst_key`` picks the worst (max), default the first."""
        worst = max(rows, key=worst_key) if worst_key else rows[0]
        return cls(kind=kind, count=len(rows), first=rows[0], worst=worst, last=rows[-1])

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "first": dict(self.first),
                "worst": dict(self.worst), "last": dict(self.last)}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """What a checker found; ``evidence`` holds the measured numbers the report prints."""

    name: str
    valid: Validity
    violations: tuple[ViolationGroup, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.valid is Validity.TRUE

    @classmethod
    def from_violations(
        cls, name: str, groups: Sequence[ViolationGroup], evidence: Mapping[str, Any] | None = None
    ) -> CheckResult:
        """TRUE when ``groups`` is empty, else FALSE with the groups."""
        valid = Validity.FALSE if groups else Validity.TRUE
        return cls(name=name, valid=valid, violations=tuple(groups), evidence=dict(evidence or {}))

    @classmethod
    def unknown(cls, name: str, reason: str) -> CheckResult:
        return cls(name=name, valid=Validity.UNKNOWN, error=reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "valid": self.valid.value,
            "violations": [v.to_json() for v in self.violations],
            "evidence": dict(self.evidence),
            "error": self.error,
        }

    def summary(self) -> str:
        """One line for logs and assertion messages."""
        if self.valid is Validity.UNKNOWN:
            return f"{self.name}: unknown ({self.error})"
        if not self.violations:
            return f"{self.name}: ok"
        parts = [f"{g.kind} x{g.count} (first: {dict(g.first)})" for g in self.violations]
        return f"{self.name}: " + "; ".join(parts)


def run_checker(name: str, fn: Callable[[], CheckResult]) -> CheckResult:
    """Run a checker; a crash becomes ``unknown`` with the error, never an exception."""
    try:
        return fn()
    except Exception as exc:  # a crashing checker must not crash the audit
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return CheckResult.unknown(name, f"checker crashed: {tb}")
