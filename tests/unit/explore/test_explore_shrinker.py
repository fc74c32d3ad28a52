"""The shrinker on a fake predicate: it keeps only what the failure needs, within its budget."""

from __future__ import annotations

from collections.abc import Callable

from harness.explore.schedule import Fault, Op, Schedule
from harness.explore.shrinker import shrink


def _schedule(n_faults: int = 8) -> Schedule:
    faults = tuple(
        Fault(
            id=i, at=1.0 + i, hold=1.0, kind="pause", subject=f"w{i}", inject=f"pause w{i}", heal=f"heal w{i}"
        )
        for i in range(n_faults)
    )
    ops = (
        Op(id=0, at=0.0, verb="start", size=10),
        Op(id=1, at=2.0, verb="retry", ref=0),
        Op(id=2, at=3.0, verb="start", size=6),
        Op(id=3, at=4.0, verb="cancel", ref=2),
    )
    return Schedule(seed=1, round=1, length_s=16.0, settle_s=5.0, ops=ops, faults=faults)


def _needs(*injects: str) -> tuple[Callable[[Schedule], bool], list[Schedule]]:
    calls: list[Schedule] = []

    def fails(s: Schedule) -> bool:
        calls.append(s)
        lines = {f.inject for f in s.faults}
        return all(i in lines for i in injects) and any(o.verb == "start" for o in s.ops)

    return fails, calls


def test_shrinks_to_the_two_faults_the_failure_needs() -> None:
    fails, calls = _needs("pause w2", "pause w5")
    out = shrink(_schedule(), fails, budget=40)
    assert sorted(f.inject for f in out.schedule.faults) == ["pause w2", "pause w5"]
    assert len(out.schedule.ops) == 1 and out.schedule.ops[0].verb == "start"
    assert out.schedule.items == 1  # halved down to one item
    assert fails(out.schedule)
    assert out.replays == len(calls) - 1  # every attempt was one replay (the last call is ours)


def test_a_failure_needing_no_fault_loses_them_all() -> None:
    fails, _ = _needs()
    out = shrink(_schedule(), fails, budget=40)
    assert out.schedule.faults == ()


def test_budget_bounds_the_replays_and_keeps_a_failing_schedule() -> None:
    fails, calls = _needs("pause w2")
    out = shrink(_schedule(), fails, budget=3)
    assert out.replays == 3 == len(calls)
    assert fails(out.schedule)


def test_nothing_kept_that_did_not_fail() -> None:
    out = shrink(_schedule(), lambda s: False, budget=10)
    assert out.schedule == _schedule()
    assert all(not a.failed for a in out.attempts)


def test_cut_after_the_violation_drops_later_faults() -> None:
    fails, _ = _needs("pause w1")
    out = shrink(_schedule(), fails, budget=1, seen_at=2.2)
    assert max(f.at for f in out.schedule.faults) <= 2.7


def test_removing_a_start_removes_its_actions_and_renumbers() -> None:
    s = _schedule(0).without_ops({0})
    lines = [line for _, line in s.steps()]
    assert lines == ["start batch 6", "cancel 1"]
