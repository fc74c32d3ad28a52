"""Shrinking: reduce a failing schedule while it still fails the same check.

The moves, cheapest replay first: drop everything after the violation was seen, remove faults
(halves, then quarters..., then one at a time: delta debugging), make the round shorter, remove
workload ops (actions on a batch first, then whole batches), halve the batches. A candidate is
kept only if its replay fails the same check; each replay is on a fresh stack (the predicate's
business), so a candidate that passes by timing luck is simply not kept. The budget bounds the
replays; the result is the smallest schedule seen failing, never one that was not replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.explore.schedule import Schedule

DEFAULT_BUDGET = 16
MIN_LENGTH_S = 2.0


@dataclass(kw_only=True)
class Attempt:
    move: str
    schedule: str  #: its description
    failed: bool  #: the replay failed the same check (the candidate was kept)


@dataclass(kw_only=True)
class Shrunk:
    schedule: Schedule
    replays: int = 0
    attempts: list[Attempt] = field(default_factory=list)


def shrink(
    schedule: Schedule,
    fails: Callable[[Schedule], bool],
    *,
    budget: int = DEFAULT_BUDGET,
    seen_at: float | None = None,
    say: Callable[[str], None] = lambda text: None,
) -> Shrunk:
    """The smallest variant of ``schedule`` found for which ``fails`` is true (``schedule`` itself
    is assumed failing). ``seen_at``: when the violation was seen (seconds into the round)."""
    out = Shrunk(schedule=schedule)

    def attempt(candidate: Schedule, move: str) -> bool:
        if out.replays >= budget or candidate.events() == out.schedule.events():
            return False
        out.replays += 1
        failed = fails(candidate)
        out.attempts.append(Attempt(move=move, schedule=candidate.describe(), failed=failed))
        verdict = "still fails" if failed else "passes"
        say(f"shrink {out.replays}/{budget}: {move}: {candidate.describe()}: {verdict}")
        if failed:
            out.schedule = candidate
        return failed

    if seen_at is not None:
        attempt(schedule.truncated(seen_at + 0.5), f"cut after {seen_at:.1f}s")
    _remove(out, attempt, lambda s: [f.id for f in s.faults], lambda s, ids: s.without_faults(ids), "faults")
    while out.schedule.length_s / 2 >= MIN_LENGTH_S and attempt(out.schedule.scaled(0.5), "half as long"):
        pass
    actions = lambda s: [o.id for o in s.ops if o.verb != "start"]  # noqa: E731
    _remove(out, attempt, actions, lambda s, ids: s.without_ops(ids), "actions")
    starts = lambda s: [o.id for o in s.ops if o.verb == "start"]  # noqa: E731
    _remove(out, attempt, starts, lambda s, ids: s.without_ops(ids), "batches")
    while out.schedule.items > len([o for o in out.schedule.ops if o.verb == "start"]):
        if not attempt(out.schedule.smaller_batches(), "half the items"):
            break
    return out


def _remove(
    out: Shrunk,
    attempt: Callable[[Schedule, str], bool],
    ids_of: Callable[[Schedule], list[int]],
    without: Callable[[Schedule, set[int]], Schedule],
    what: str,
) -> None:
    """Delta debugging over one kind of element: remove chunks, smaller and smaller."""
    chunks = 2
    while True:
        ids = ids_of(out.schedule)
        if not ids:
            return
        size = max(1, -(-len(ids) // chunks))
        groups = [ids[i : i + size] for i in range(0, len(ids), size)]
        removed = False
        for group in groups:
            label = f"without {what} {group}" if len(group) < len(ids) else f"without any {what}"
            if attempt(without(out.schedule, set(group)), label):
                removed = True
                break
        if removed:
            chunks = max(2, chunks - 1)
        elif size == 1:
            return
        else:
            chunks = min(len(ids), chunks * 2)
