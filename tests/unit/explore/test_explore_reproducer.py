"""The reproducer writer: a script the session loads and parses, ending in the violated check."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness.explore.reproducer import save, script_lines, script_text
from harness.explore.runner import RoundResult, _observe_cut
from harness.explore.schedule import Fault, Op, Schedule
from harness.session.grammar import Names, parse
from harness.session.script import load_script
from harness.target.load import load_target

TARGET, _ = load_target(None)
NAMES = Names(services=tuple(TARGET.services), links=tuple(TARGET.links))


def _schedule() -> Schedule:
    return Schedule(
        seed=77,
        round=2,
        length_s=6.0,
        settle_s=20.0,
        ops=(Op(id=0, at=0.0, verb="start", size=4), Op(id=1, at=3.0, verb="retry", ref=0)),
        faults=(
            Fault(id=0, at=1.0, hold=1.5, kind="provider", subject="provider", inject="provider 500",
                  heal="heal provider"),
            Fault(id=1, at=1.2, hold=0.0, kind="kill", subject="worker-1", inject="restart worker-1", heal=None),
        ),
    )  # fmt: skip


def test_lines_keep_order_and_gaps_and_end_with_the_check() -> None:
    lines = script_lines(_schedule(), "completed_batch_with_failed_items")
    assert lines == [
        "start batch 4",
        "wait 1.00s",
        "provider 500",
        "wait 0.20s",
        "wait inflight worker-1 5s",  # pacing: the worker restarts only with its own call in flight
        "restart worker-1",
        "wait 1.30s",
        "wait hit 5s",  # pacing: the provider fault is healed only after it answered a call
        "heal provider",
        "wait 0.50s",
        "retry 1",
        "heal all",
        "wait done 20s",
        "check completed_batch_with_failed_items",
    ]


def test_a_stuck_check_ends_with_the_quiet_wait_only() -> None:
    lines = script_lines(_schedule(), "all_terminal")
    assert lines[-1] == "wait done 20s"


def test_saved_file_loads_as_a_session_script_with_its_seed(tmp_path: Path) -> None:
    text = script_text(_schedule(), check="duplicate_outputs", summary="x # y", target_name="reference-target",
                       defects=("no_fencing",))  # fmt: skip
    path = save(tmp_path / "r" / "reproducer.txt", text)
    script = load_script(path)
    assert script.seed == 77
    assert script.lines == tuple(script_lines(_schedule(), "duplicate_outputs"))
    for line in script.lines:
        assert parse(line, NAMES) is not None
    assert "--defect no_fencing" in text


def test_pacing_goes_with_its_fault_when_the_shrinker_removes_it() -> None:
    lines = [line for _, line in _schedule().without_faults({0, 1}).steps()]
    assert not [line for line in lines if line.startswith("wait")]


def test_a_round_replayed_under_load_starts_the_load_first() -> None:
    loaded = _schedule().loaded(1.5)
    lines = script_lines(loaded, "stuck_processing")
    assert lines[:2] == ["load 1.5", "start batch 4"]  # the load runs from the round's first moment
    assert "under load 1.5/s" in loaded.describe()
    assert (
        script_lines(loaded.without_faults({0, 1}), "stuck_processing")[0] == "load 1.5"
    )  # kept by shrinking
    for line in lines:
        assert parse(line, NAMES) is not None


def test_a_heal_waits_for_the_state_its_fault_brought_about_in_the_failing_replay() -> None:
    # The replay that failed saw an item fail while the outage was on: a slower replay healing
    # after the same seconds would heal before it (the item still retrying) and pass.
    observed = {
        ("inject", 0): Counter(queued=4),
        ("heal", 0): Counter(failed=1, retrying=3),
        ("inject", 1): Counter(failed=1, retrying=3),
    }
    paced = _schedule().with_effects(observed)
    assert [f.until for f in paced.faults] == ["failed", None]  # the restart has no heal to pace
    lines = script_lines(paced, "completed_batch_with_failed_items")
    assert lines[lines.index("heal provider") - 2 : lines.index("heal provider")] == [
        "wait hit 5s",
        "wait failed 20s",
    ]
    for line in lines:
        assert parse(line, NAMES) is not None
    assert paced.without_faults({1}).faults[0].until == "failed"  # shrinking keeps it


def test_a_state_present_before_the_fault_is_not_its_effect() -> None:
    observed = {("inject", 0): Counter(failed=1), ("heal", 0): Counter(failed=2)}
    assert [f.until for f in _schedule().with_effects(observed).faults] == [None, None]
    assert _schedule().with_effects({}).events() == _schedule().events()  # nothing seen, nothing paced


def test_a_round_cut_mid_fault_takes_the_states_at_the_cut_as_its_active_faults_effect() -> None:
    # A mid-fault violation stops the round before the outage's heal line ever runs.
    class _Session:
        def own_snapshot(self) -> Any:
            return SimpleNamespace(item_states=lambda: Counter(failed=1))

    result = RoundResult(schedule=_schedule(), observed={("inject", 0): Counter(), ("inject", 1): Counter(),
                                                         ("heal", 1): Counter()})  # fmt: skip
    _observe_cut(_Session(), result)  # type: ignore[arg-type]
    assert result.observed[("heal", 0)] == Counter(failed=1)
    assert result.observed[("heal", 1)] == Counter()  # its heal ran: what it saw then stays
    assert [f.until for f in _schedule().with_effects(result.observed).faults] == ["failed", None]
