"""A violation that shows only under the exploration's load is replayed, shrunk and saved under it.

The explorer's decisions on a fake stack source and a fake round runner: a round fails the check
only when its schedule runs the load (``load_rps``), as ``no_lease_expiry`` did (an item left
``processing`` by a killed worker, noticed while the load kept the queue moving).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness.checkers.result import CheckResult, Validity
from harness.explore import explorer as explorer_mod
from harness.explore.checks import Violation
from harness.explore.command import ExplorePlan
from harness.explore.runner import RoundResult
from harness.explore.schedule import Fault, Op, Schedule
from harness.target.load import load_target

CHECK = "stuck_processing"


def _round() -> Schedule:
    kill = Fault(id=0, at=1.0, hold=0.0, kind="kill", subject="worker-1", inject="kill worker-1", heal=None)
    pause = Fault(id=1, at=2.0, hold=1.0, kind="pause", subject="api", inject="pause api", heal="heal api")
    return Schedule(seed=3, round=4, length_s=8.0, settle_s=10.0, faults=(kill, pause),
                    ops=(Op(id=0, at=0.0, verb="start", size=3),))  # fmt: skip


def _violation() -> Violation:
    result = CheckResult(name=CHECK, valid=Validity.FALSE)
    return Violation(check=CHECK, at=9.0, phase="end-state", result=result)


class _Stacks:
    @contextlib.contextmanager
    def fresh(self) -> Iterator[object]:
        yield object()


def _plan(tmp_path: Path, load: float) -> ExplorePlan:
    target, _ = load_target(None)
    return ExplorePlan(target=target, target_file=None, backend="local", duration_s=60, round_s=8, seed=3,
                       kinds=("kill", "pause"), load=load, load_workers=0, defects=("no_lease_expiry",),
                       report_dir=tmp_path, shrink_budget=6)  # fmt: skip


def _needs_load_and_the_kill(stack: object, schedule: Schedule, **kwargs: object) -> RoundResult:
    fails = schedule.load_rps > 0 and any(f.inject == "kill worker-1" for f in schedule.faults)
    return RoundResult(schedule=schedule, violations=[_violation()] if fails else [])


def test_a_round_that_fails_only_under_load_is_shrunk_under_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(explorer_mod, "run_round", _needs_load_and_the_kill)
    explorer = explorer_mod.Explorer(_plan(tmp_path, load=1.0), say=lambda text: None)
    explorer.found = RoundResult(schedule=_round(), violations=[_violation()])
    assert explorer._shrink(_Stacks()) is True  # type: ignore[arg-type]
    assert explorer.confirmed and explorer.needs_load
    assert explorer.shrunk is not None
    minimal = explorer.shrunk.schedule
    assert minimal.load_rps == 1.0 and [f.inject for f in minimal.faults] == ["kill worker-1"]
    script = (tmp_path / "reproducer.txt").read_text().splitlines()
    commands = [line for line in script if not line.startswith("#")]
    assert commands[0] == "load 1" and "kill worker-1" in commands
    # the stuck item must have been stuck past the threshold when the check runs: the replay
    # waits the target's max_duration_s after the quiet period
    linger = explorer.plan.target.timing.bounds()["max_duration_s"]
    assert minimal.linger_s == linger and commands[-3:] == [
        "wait done 10s",
        f"wait {linger:g}s",
        f"check {CHECK}",
    ]
    evidence = explorer.evidence()
    assert evidence["reproduced_without_load"] is False and evidence["reproduced_under_load"] is True


def test_without_load_in_the_exploration_there_is_no_loaded_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replayed: list[Schedule] = []

    def runner(stack: object, schedule: Schedule, **kwargs: object) -> RoundResult:
        replayed.append(schedule)
        return _needs_load_and_the_kill(stack, schedule)

    monkeypatch.setattr(explorer_mod, "run_round", runner)
    explorer = explorer_mod.Explorer(_plan(tmp_path, load=0.0), say=lambda text: None)
    explorer.found = RoundResult(schedule=_round(), violations=[_violation()])
    assert explorer._shrink(_Stacks()) is False  # type: ignore[arg-type]
    assert [s.load_rps for s in replayed] == [0.0] and not explorer.needs_load


def test_a_violation_caused_in_the_round_before_is_replayed_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kill was in round 3; the item it left ``processing`` was seen stuck in round 4."""
    earlier = Schedule(seed=3, round=3, length_s=8.0, settle_s=10.0, ops=(Op(id=0, at=0.0, verb="start", size=2),),
                       faults=(Fault(id=0, at=2.0, hold=0.0, kind="kill", subject="worker-2",
                                     inject="kill worker-2", heal=None),))  # fmt: skip
    found = _round().without_faults({0})  # round 4: only the api pause
    replayed: list[Schedule] = []

    def runner(stack: object, schedule: Schedule, **kwargs: object) -> RoundResult:
        replayed.append(schedule)
        fails = any(f.inject == "kill worker-2" for f in schedule.faults)
        return RoundResult(schedule=schedule, violations=[_violation()] if fails else [])

    monkeypatch.setattr(explorer_mod, "run_round", runner)
    explorer = explorer_mod.Explorer(_plan(tmp_path, load=1.0), say=lambda text: None)
    explorer.found, explorer.found_previous = RoundResult(schedule=found, violations=[_violation()]), earlier
    assert explorer._shrink(_Stacks()) is True  # type: ignore[arg-type]
    # tried: the round alone, alone under load, then both rounds (under the load they ran with)
    assert [(len(s.faults), s.load_rps) for s in replayed[:3]] == [(1, 0.0), (1, 1.0), (2, 1.0)]
    assert explorer.shrunk is not None
    assert [f.inject for f in explorer.shrunk.schedule.faults] == ["kill worker-2"]
    assert explorer.shrunk.replays >= 3


def test_two_rounds_joined_keep_their_moments_heals_and_references() -> None:
    earlier = _round()  # ops: start (id 0); faults: kill at 1, pause api at 2 held 1 s
    later = replace(
        _round(), round=5, ops=(Op(id=0, at=0.5, verb="start", size=1), Op(id=1, at=1.0, verb="retry", ref=0))
    )
    joined = earlier.then(later, gap_s=1.0)
    assert joined.round == 5 and joined.length_s == 17.0
    assert [(o.id, o.at, o.ref) for o in joined.ops] == [(0, 0.0, None), (1, 9.5, None), (2, 10.0, 1)]
    assert [(f.id, f.at) for f in joined.faults] == [(0, 1.0), (1, 2.0), (2, 10.0), (3, 11.0)]
    assert len({f.id for f in joined.faults}) == 4
    lines = [line for _, line in joined.steps()]
    assert lines.index("heal api") < lines.index("start batch 1")  # round 4's pause healed within it
    assert "retry 2" in lines  # the retry still names its own batch (the second started)


def test_the_saved_reproducer_heals_an_outage_only_once_it_brought_about_what_it_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen on a busy runner: a 503 outage shrunk to 2.7 s failed an item in the failing replay,
    but the saved script healed it after the same 2.7 s while the item was still retrying."""
    outage = Fault(id=0, at=1.0, hold=2.0, kind="provider", subject="provider", inject="provider 503",
                   heal="heal provider")  # fmt: skip
    found = replace(_round(), faults=(outage,))

    def runner(stack: object, schedule: Schedule, **kwargs: object) -> RoundResult:
        fails = bool(schedule.faults)
        observed = {("inject", 0): Counter(processing=3), ("heal", 0): Counter(failed=1, retrying=2)}
        return RoundResult(schedule=schedule, violations=[_violation()] if fails else [], observed=observed)

    monkeypatch.setattr(explorer_mod, "run_round", runner)
    explorer = explorer_mod.Explorer(_plan(tmp_path, load=0.0), say=lambda text: None)
    explorer.found = RoundResult(schedule=found, violations=[_violation()])
    assert explorer._shrink(_Stacks()) is True  # type: ignore[arg-type]
    commands = [line for line in (tmp_path / "reproducer.txt").read_text().splitlines() if line[:1] != "#"]
    assert commands[commands.index("heal provider") - 1] == "wait failed 20s"
