"""``chaos-audit target check`` on real stacks: the RQ target's own file, then the same file with
one observation removed and one broken. Driven as a user runs it: the console script, its output
and exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

RQ_TARGET = Path(__file__).resolve().parents[3] / "fixtures" / "rqtarget" / "target.yaml"
pytestmark = pytest.mark.slow


def target_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "target", "check", *args, "--seed", "11"],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def scenario_lines(stdout: str) -> dict[str, str]:
    block = stdout.split("scenarios:\n", 1)[1]
    return {ln.split()[0]: ln.split(None, 1)[1] for ln in block.splitlines() if ln.startswith("  TEST-")}


def changed_file(tmp_path: Path, change: dict[str, Any]) -> Path:
    data = yaml.safe_load(RQ_TARGET.read_text())
    data["database"]["observations"].update(change)
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_rq_targets_own_file_holds() -> None:
    done = target_check(str(RQ_TARGET))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" not in done.stdout
    lines = scenario_lines(done.stdout)
    assert lines["TEST-RR-006"].startswith("can run")
    assert "'workflow'" in lines["TEST-WR-001"]  # no workflow: section in this target


def test_a_removed_and_a_broken_observation_are_named(tmp_path: Path) -> None:
    path = changed_file(
        tmp_path, {"transitions": None, "results": "SELECT task_id::text AS item_id FROM no_such_table"}
    )
    done = target_check(str(path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "broken contract: database.observations.results" in done.stderr
    assert "broken      database.observations.results" in done.stdout
    from harness.run.plan import scenarios_dir
    from harness.target.needs import scenario_needs

    needs = {s.id: s.needs for s in scenario_needs(scenarios_dir())}
    for sid, line in scenario_lines(done.stdout).items():
        if "database.observations.transitions" in needs[sid]:
            assert "'database.observations.transitions' (null in its target file)" in line, sid
        if "database.observations.results" in needs[sid]:
            assert "database.observations.results is broken" in line, sid
        if not {"database.observations.transitions", "database.observations.results"} & set(needs[sid]):
            assert "database.observations" not in line, sid


def test_an_invalid_file_is_exit_2_naming_the_field_with_nothing_started(tmp_path: Path) -> None:
    data = yaml.safe_load(RQ_TARGET.read_text())
    data["observe"]["item_fields"]["holdr"] = "worker"
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(data))
    done = target_check(str(path))
    assert done.returncode == 2
    assert "observe.item_fields.holdr" in done.stderr and "contract:" not in done.stdout
