"""The parallel run's schedule: longest first, alone scenarios with nothing beside them, lost work."""

from __future__ import annotations

from harness.run.schedule import Close, Run, Schedule, Unit, units_of


def _units(*spec: tuple[str, float, bool]) -> list[Unit]:
    return [Unit(nodeid=f"t::{i}", id=i, seconds=s, alone=a) for i, s, a in spec]


def _runs(actions: list[Run | Close]) -> dict[str, str]:
    return {a.worker: a.unit.id for a in actions if isinstance(a, Run)}


def _closed(actions: list[Run | Close]) -> list[str]:
    return [a.worker for a in actions if isinstance(a, Close)]


def test_nothing_is_handed_out_before_a_worker_has_collected() -> None:
    schedule = Schedule(_units(("A", 1, False)), ["w1", "w2"])
    assert schedule.next_actions() == []
    schedule.ready("w2")
    assert _runs(schedule.next_actions()) == {"w2": "A"}


def test_the_longest_scenarios_go_first_and_each_worker_gets_one_at_a_time() -> None:
    schedule = Schedule(_units(("short", 1, False), ("long", 9, False), ("mid", 4, False)), ["w1", "w2"])
    schedule.ready("w1")
    schedule.ready("w2")
    assert _runs(schedule.next_actions()) == {"w1": "long", "w2": "mid"}
    assert schedule.next_actions() == []  # both busy
    schedule.finished("w2")
    assert _runs(schedule.next_actions()) == {"w2": "short"}
    schedule.finished("w1")
    assert _closed(schedule.next_actions()) == ["w1"]  # nothing left for it
    schedule.finished("w2")
    assert _closed(schedule.next_actions()) == ["w2"]
    assert schedule.finished_all


def test_an_alone_scenario_waits_for_the_others_to_finish_and_exit() -> None:
    units = _units(("flood", 20, True), ("a", 3, False), ("b", 2, False), ("c", 1, False))
    schedule = Schedule(units, ["w1", "w2", "w3"])
    for w in ("w1", "w2", "w3"):
        schedule.ready(w)
    # the alone one is the longest, yet the shared ones go first
    assert _runs(schedule.next_actions()) == {"w1": "a", "w2": "b", "w3": "c"}
    schedule.finished("w3")
    assert _closed(schedule.next_actions()) == ["w3"]  # others still run: w3 is not needed any more
    schedule.finished("w1")
    assert _closed(schedule.next_actions()) == ["w1"]  # w2 still runs, it will be kept
    schedule.finished("w2")
    assert schedule.next_actions() == []  # w2 is the last one: it waits for w1 and w3 to exit
    schedule.gone("w1")
    assert schedule.next_actions() == []
    schedule.gone("w3")
    assert _runs(schedule.next_actions()) == {"w2": "flood"}
    schedule.finished("w2")
    assert _closed(schedule.next_actions()) == ["w2"]


def test_alone_scenarios_run_one_after_the_other_on_the_one_worker_kept() -> None:
    schedule = Schedule(_units(("x", 5, True), ("y", 9, True)), ["w1", "w2"])
    schedule.ready("w1")
    schedule.ready("w2")
    first = schedule.next_actions()
    assert _closed(first) == ["w2"] and not _runs(first)  # w1 kept; it waits for w2 to exit
    schedule.gone("w2")
    assert _runs(schedule.next_actions()) == {"w1": "y"}
    assert schedule.next_actions() == []
    schedule.finished("w1")
    assert _runs(schedule.next_actions()) == {"w1": "x"}


def test_a_worker_still_starting_when_only_alone_work_is_left_is_closed() -> None:
    schedule = Schedule(_units(("flood", 5, True)), ["w1", "w2"])
    schedule.ready("w1")
    actions = schedule.next_actions()
    assert _closed(actions) == ["w2"] and not _runs(actions)
    schedule.gone("w2")
    assert _runs(schedule.next_actions()) == {"w1": "flood"}


def test_a_worker_that_dies_mid_scenario_loses_it_and_the_others_take_the_rest() -> None:
    schedule = Schedule(_units(("a", 3, False), ("b", 2, False), ("c", 1, False)), ["w1", "w2"])
    schedule.ready("w1")
    schedule.ready("w2")
    assert _runs(schedule.next_actions()) == {"w1": "a", "w2": "b"}
    lost = schedule.gone("w1")
    assert lost is not None and lost.id == "a" and schedule.lost == [lost]
    schedule.finished("w2")
    assert _runs(schedule.next_actions()) == {"w2": "c"}
    schedule.finished("w2")
    assert _closed(schedule.next_actions()) == ["w2"]
    assert schedule.finished_all


def test_with_every_worker_gone_the_schedule_is_over_with_work_left() -> None:
    schedule = Schedule(_units(("a", 3, False), ("b", 2, False)), ["w1"])
    schedule.ready("w1")
    schedule.next_actions()
    schedule.gone("w1")
    assert schedule.finished_all and [u.id for u in schedule.pending] == ["b"]


def test_units_take_alone_and_seconds_from_the_catalogue() -> None:
    units = units_of(
        [{"id": "TEST-RR-Q03", "nodeid": "q::flood"}, {"id": "NOT-IN-CATALOGUE", "nodeid": "x::y"}]
    )
    assert units[0].alone and units[0].seconds > 0
    assert not units[1].alone and units[1].nodeid == "x::y"
