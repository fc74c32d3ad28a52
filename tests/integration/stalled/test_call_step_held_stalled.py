"""A runner that stalls longer than the target's provider timeout while it holds a provider call:
the scenarios that hold one decide anyway where they can, else they are unknown naming
``timing.provider_timeout_s``, never a verdict on a moment they did not observe.

The scenarios run on the local backend against the reference target (provider timeout 1 s), with
``stall_plugin`` making the harness wait, after a call reached its barrier, until the target's
timeout ended that call and the target went on (two more calls answered; for RR-001 and -003, its
batch over too).
A workflow that ran past its call step is replaced by a new one (``call_step_held``), ``TRIES``
times at most; a batch that finished, or a worker that gave up on its call, leaves no such way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.workflows import TRIES

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).parent

pytestmark = pytest.mark.slow


def audit_stalled(
    report: Path, sid: str, stalls: int, *, settle: bool = False, on: str = ""
) -> dict[str, object]:
    """Audit ``sid`` with its first ``stalls`` barrier waits stalled (see ``stall_plugin``)."""
    env = {**os.environ, "CHAOS_TEST_STALLS": str(stalls), "CHAOS_TEST_STALL_SETTLE": "1" if settle else "",
           "CHAOS_TEST_STALL_ON": on}  # fmt: skip
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios", "-q", "-p", "no:cacheprovider", "-p", "stall_plugin",
         "--chaos-only", sid, "--chaos-report-dir", str(report), "--chaos-seed", "7"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    run = json.loads((report / "run.json").read_text())
    (scenario,) = run["scenarios"]
    print(done.stdout[-2000:], done.stderr[-1000:], sep="\n")
    return dict(scenario)


def workflows_started(report: Path) -> set[str]:
    lines = (report / "histories" / "TEST-WR-007.jsonl").read_text().splitlines()
    entries = [json.loads(line)["entry"] for line in lines if json.loads(line)["kind"] == "ledger"]
    return {str(e["batch_id"]) for e in entries}


def test_one_stall_starts_another_workflow_and_still_decides(tmp_path: Path) -> None:
    scenario = audit_stalled(tmp_path, "TEST-WR-007", stalls=1)
    assert scenario["verdict"] == "pass", scenario.get("reason")
    assert len(workflows_started(tmp_path)) == 2  # the first ran past its call step


def test_stalls_on_every_try_leave_it_unknown_naming_the_timing(tmp_path: Path) -> None:
    scenario = audit_stalled(tmp_path, "TEST-WR-007", stalls=TRIES)
    assert scenario["verdict"] == "unknown", scenario.get("reason")
    assert str(scenario["reason"]).startswith("timing.provider_timeout_s:"), scenario["reason"]
    assert len(workflows_started(tmp_path)) == TRIES


@pytest.mark.parametrize(
    ("sid", "settle", "why"),
    [
        ("TEST-RR-001", True, "before the client was dropped (the batch was completed first)"),
        ("TEST-RR-003", True, "before the server noticed the client leave (the job completed first)"),
        ("TEST-RR-006", False, "before worker-1 got its answer (the call ended aborted)"),
    ],
)
def test_a_batch_scenario_whose_held_call_ended_too_soon_is_unknown(
    tmp_path: Path, sid: str, settle: bool, why: str
) -> None:
    scenario = audit_stalled(tmp_path, sid, stalls=1, settle=settle)
    assert scenario["verdict"] == "unknown", scenario.get("reason")
    reason = str(scenario["reason"])
    assert reason.startswith("timing.provider_timeout_s:") and why in reason, reason


def test_a_worker_paused_after_its_call_ended_leaves_wr_007_unknown(tmp_path: Path) -> None:
    scenario = audit_stalled(tmp_path, "TEST-WR-007", stalls=1, on="item")
    assert scenario["verdict"] == "unknown", scenario.get("reason")
    reason = str(scenario["reason"])
    assert reason.startswith("timing.provider_timeout_s:") and ") was paused" in reason, reason
