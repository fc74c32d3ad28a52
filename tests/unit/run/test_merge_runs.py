"""Merging the workers' run records: a verdict a worker announced is kept even when that worker
wrote no ``run.json`` (killed after the stop grace), and never counted twice."""

from __future__ import annotations

from typing import Any

from harness.run.pool import merge_runs


def _record(nodeid: str, verdict: str = "pass") -> dict[str, Any]:
    return {"id": nodeid.upper(), "nodeid": nodeid, "verdict": verdict}


def _run(*records: dict[str, Any]) -> dict[str, Any]:
    collected = [{"nodeid": n} for n in ("a", "b", "c", "d")]
    return {"started_at": 1.0, "finished_at": 2.0, "exitstatus": 2, "interrupted": True,
            "collected": collected, "scenarios": list(records)}  # fmt: skip


def test_a_killed_workers_announced_verdicts_are_kept() -> None:
    # w1 announced a and b, then was killed in c before writing its run.json; w2 wrote d's
    merged = merge_runs(
        [None, _run(_record("d"))], announced=[_record("a"), _record("b", "fail"), _record("d")]
    )
    assert merged is not None
    assert [(s["nodeid"], s["verdict"]) for s in merged["scenarios"]] == [("d", "pass"), ("a", "pass"),
                                                                          ("b", "fail")]  # fmt: skip


def test_without_announcements_only_the_records_count() -> None:
    merged = merge_runs([_run(_record("a")), _run(_record("b"))])
    assert merged is not None
    assert [s["nodeid"] for s in merged["scenarios"]] == ["a", "b"]
    # no worker's record to give the run its shape: the command reports the run as incomplete
    assert merge_runs([None, None], announced=[_record("a")]) is None
