"""Matrix data: the plan (which scenarios answer which defect) and the verdicts it produced."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness import catalog


@dataclass(frozen=True, kw_only=True)
class Row:
    """One defect: the scenarios expected to catch it, what they said, and whether it was caught."""

    defect: str
    expected: tuple[str, ...]
    verdicts: Mapping[str, str] = field(default_factory=dict)
    error: str = ""

    @property
    def failed(self) -> list[str]:
        return [i for i in self.expected if self.verdicts.get(i) == "fail"]

    @property
    def detected(self) -> bool:
        """Caught when every scenario docs/scenarios.md names for the defect failed."""
        return not self.error and bool(self.expected) and len(self.failed) == len(self.expected)

    def to_json(self) -> dict[str, Any]:
        return {
            "defect": self.defect,
            "expected": list(self.expected),
            "ran": sorted(self.verdicts),
            "verdicts": dict(self.verdicts),
            "failed": self.failed,
            "detected": self.detected,
            "error": self.error,
        }


@dataclass(frozen=True, kw_only=True)
class Matrix:
    """The whole matrix: the correct target's verdicts and one row per defect."""

    correct: Mapping[str, str]
    rows: tuple[Row, ...]
    seed: int
    #: the reference target answers every observation, so there an ``unknown`` is a false positive
    #: too; another target may leave some scenarios unknown (they need what its file lacks)
    unknown_allowed: bool = False
    target: str = "reference"
    #: scenario id -> contract fields it used without declaring them in its needs (a harness bug)
    undeclared: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def false_positives(self) -> list[str]:
        """Scenarios that did not pass against the correct target (unknown: only if not allowed)."""
        allowed = {"pass", "unknown"} if self.unknown_allowed else {"pass"}
        return sorted(i for i, v in self.correct.items() if v not in allowed)

    @property
    def undetected(self) -> list[str]:
        return [r.defect for r in self.rows if not r.detected]

    @property
    def ok(self) -> bool:
        return not (self.false_positives or self.undetected or self.undeclared) and bool(self.correct)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "target": self.target,
            "seed": self.seed,
            "correct": dict(self.correct),
            "rows": [r.to_json() for r in self.rows],
            "false_positives": self.false_positives,
            "undetected": self.undetected,
            "undeclared": {i: list(v) for i, v in self.undeclared.items()},
            "ok": self.ok,
        }

    def problems(self) -> list[str]:
        """Human-readable lines naming each defect not caught and each false positive."""
        lines = [
            f"scenario {i} does not pass on the correct target (verdict: {self.correct[i]})"
            for i in self.false_positives
        ]
        lines += [
            f"scenario {i} used contract fields it does not declare in its needs: {', '.join(v)}"
            for i, v in sorted(self.undeclared.items())
        ]
        for r in self.rows:
            if not r.detected:
                why = r.error or ", ".join(f"{i}: {r.verdicts.get(i, 'not run')}" for i in r.expected)
                lines.append(
                    f"defect {r.defect} is not detected by {', '.join(r.expected) or 'any scenario'} ({why})"
                )
        return lines


def defect_plan(
    defects: Iterable[str] | None = None, caught_by: Mapping[str, Iterable[str]] | None = None
) -> dict[str, tuple[str, ...]]:
    """Defect -> the scenario ids that must catch it (the smallest set that answers).

    ``caught_by``: a target file's own ``defects.caught_by``; without it, docs/scenarios.md's (the
    reference target's defects).
    """
    if caught_by:
        chosen = list(defects) if defects else list(caught_by)
        return {d: tuple(caught_by.get(d, ())) for d in chosen}
    every = sorted({d for e in catalog.ENTRIES for d in e.defects})
    chosen = list(defects) if defects else every
    return {d: tuple(catalog.ids_catching(d)) for d in chosen}
