"""The reproducer writer: a script the session loads and parses, ending in the violated check."""

from __future__ import annotations

from pathlib import Path

from harness.explore.reproducer import save, script_lines, script_text
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
