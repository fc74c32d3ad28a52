"""What a scenario needs of a target's timings: an exact value, or a bound the stack may already meet.

Most scenarios do not need a timing *changed*, only *bounded*: "the provider timeout must outlast my
held call" (:func:`at_least`), "the deadline must be short enough to wait for" (:func:`at_most`). A
stack the harness starts takes the bound's value through ``{timing.X}``; a running stack whose own
setting already meets the bound is audited as it is, and one that does not is ``unknown`` for that
scenario, naming the timing (never a bound it does not keep, never a false fail).

**How long a scenario waits for a running stack's own timing.** Where the harness would set a short
value to keep an audit fast (a 2 s provider timeout, a 5 s deadline), a scenario asks for it with
:func:`prefer` and a bound, and derives every wait and workload from ``stack.timing`` afterwards. A
stack the harness cannot change keeps its value when the scenario can wait for it: one such timing
at most :data:`MAX_WAIT_S` (a real 30 s provider timeout or batch deadline is waited for), and the
scenario's whole derived wait at most :data:`WAIT_BUDGET_S` (:func:`require_wait`). A longer one (a
1 h deadline) leaves the scenario ``unknown``, naming ``timing.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import Undecidable

#: the longest one timing of a running stack a scenario waits for instead of being ``unknown``
MAX_WAIT_S = 60.0
#: the longest a scenario's derived waits may add up to on a running stack (its run stays well
#: inside the per-scenario timeout of ``chaos-audit run`` and the test suite's 300 s)
WAIT_BUDGET_S = 200.0


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
class Within:
    """The timing must be between ``low`` and ``high`` (both included)."""

    low: float
    high: float

    def met_by(self, current: Any) -> bool:
        return current is not None and self.low <= float(current) <= self.high


@dataclass(frozen=True)
class Prefer:
    """Set ``value`` where the harness can; a running stack keeps its own value if ``bound`` holds
    (a short deadline makes the audit fast, but a 30 s deadline can be waited for)."""

    value: float
    bound: AtLeast | AtMost | Within


def prefer(value: float, *, at_most: float | None = None, at_least: float | None = None) -> Prefer:
    """``value`` where the harness sets timings; on a running stack, its own value within the bound
    (``at_most``, ``at_least``, or both)."""
    if at_most is None and at_least is None:
        raise ValueError("prefer(): give at_most, at_least or both")
    if at_most is not None and at_least is not None:
        return Prefer(value, Within(float(at_least), float(at_most)))
    return Prefer(value, AtMost(float(at_most)) if at_most is not None else AtLeast(float(at_least or 0.0)))


def waitable(value: float, *, at_least: float | None = None) -> Prefer:
    """``value`` where the harness sets timings; a running stack's own value if it can be waited for
    (at most :data:`MAX_WAIT_S`) and, with ``at_least``, leaves the scenario room to act (a call
    held at a barrier must not time out before the scenario acts on it)."""
    return prefer(value, at_most=MAX_WAIT_S, at_least=at_least)


def require_wait(key: str, total_s: float, *, why: str) -> None:
    """``Undecidable`` naming ``timing.<key>`` when the wait a scenario derived from it (``total_s``)
    is past :data:`WAIT_BUDGET_S`: a scenario that would run for an hour is ``unknown``, not slow."""
    if total_s > WAIT_BUDGET_S:
        raise Undecidable(
            f"timing.{key}: {why} would take {total_s:.0f} s, past the {WAIT_BUDGET_S:.0f} s a scenario "
            "waits for a running stack's own timing",
            field=f"timing.{key}",
        )


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
