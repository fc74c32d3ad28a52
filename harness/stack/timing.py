"""What a scenario needs of a target's timings: an exact value, or a bound the stack may already meet.

Most scenarios do not need a timing *changed*, only *bounded*: "the provider timeout must outlast my
held call" (:func:`at_least`), "the deadline must be short enough to wait for" (:func:`at_most`). A
stack the harness starts takes the bound's value through ``{timing.X}``; a running stack whose own
setting already meets the bound is audited as it is, and one that does not is ``unknown`` for that
scenario, naming the timing (never a bound it does not keep, never a false fail).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AtLeast:
    """The timing must be at least ``value`` (the stack's own larger value is kept)."""

    value: float

    def met_by(self, current: Any) -> bool:
        return current is not None and float(current) >= self.value


@dataclass(frozen=True)
class AtMost:
    """The timing must be at most ``value`` (the stack's own smaller value is kept)."""

    value: float

    def met_by(self, current: Any) -> bool:
        return current is not None and float(current) <= self.value


@dataclass(frozen=True)
class Prefer:
    """Set ``value`` where the harness can; a running stack keeps its own value if ``bound`` holds
    (a short deadline makes the audit fast, but a 30 s deadline can be waited for)."""

    value: float
    bound: AtLeast | AtMost


def prefer(value: float, *, at_most: float) -> Prefer:
    return Prefer(value, AtMost(at_most))


def at_least(value: float) -> AtLeast:
    return AtLeast(value)


def at_most(value: float) -> AtMost:
    return AtMost(value)


def changes_needed(
    current: Mapping[str, Any], wanted: Mapping[str, Any], *, fixed: bool = False
) -> dict[str, Any]:
    """The timings that must change for ``wanted`` to hold, with the value to set.

    ``fixed``: the stack keeps its own settings (a running stack): a preference then only asks that
    its bound holds.
    """
    out: dict[str, Any] = {}
    for key, want in wanted.items():
        if isinstance(want, Prefer):
            if fixed and want.bound.met_by(current.get(key)):
                continue
            if current.get(key) != want.value:
                out[key] = want.value
        elif isinstance(want, AtLeast | AtMost):
            if not want.met_by(current.get(key)):
                out[key] = want.value
        elif current.get(key) != want:
            out[key] = want
    return out
