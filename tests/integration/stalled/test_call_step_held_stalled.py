"""A runner that stalls longer than the target's provider timeout while it holds a workflow's first
call: ``call_step_held`` starts another workflow (the scenario still decides), and after ``TRIES``
such workflows the scenario is unknown naming ``timing.provider_timeout_s``, never a false verdict.

TEST-WR-007 runs on the local backend against the reference target (provider timeout 1 s), with
``stall_plugin`` making the harness wait, after the first call reached its barrier, until the
target's timeout ended that call and the workflow went on past its call step.
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


def audit_wr_007(report: Path, stalls: int) -> dict[str, object]:
    env = {**os.environ, "CHAOS_TEST_STALLS": str(stalls)}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios", "-q", "-p", "no:cacheprovider", "-p", "stall_plugin",
         "--chaos-only", "TEST-WR-007", "--chaos-report-dir", str(report), "--chaos-seed", "7"],
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
    scenario = audit_wr_007(tmp_path, stalls=1)
    assert scenario["verdict"] == "pass", scenario.get("reason")
    assert len(workflows_started(tmp_path)) == 2  # the first ran past its call step


def test_stalls_on_every_try_leave_it_unknown_naming_the_timing(tmp_path: Path) -> None:
    scenario = audit_wr_007(tmp_path, stalls=TRIES)
    assert scenario["verdict"] == "unknown", scenario.get("reason")
    assert str(scenario["reason"]).startswith("timing.provider_timeout_s:"), scenario["reason"]
    assert len(workflows_started(tmp_path)) == TRIES
