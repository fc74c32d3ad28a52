"""``target check --static`` on a running stack: which scenarios a missing handle leaves unknown,
from the faults the catalogue lists for each scenario (never from a pattern over their source)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from harness.target import check_command

STAGING = Path(__file__).resolve().parents[3] / "fixtures" / "docker" / "compose-staging.yaml"


def scenario_lines(out: str) -> dict[str, str]:
    block = out.split("scenarios:\n", 1)[1]
    return {ln.split()[0]: ln.split(None, 1)[1] for ln in block.splitlines() if ln.startswith("  TEST-")}


def static_check(tmp_path: Path, capsys: pytest.CaptureFixture[str], *, drop_handle: str) -> dict[str, str]:
    data = yaml.safe_load(STAGING.read_text())
    del data["services"][drop_handle]["container"]
    path = tmp_path / "staging.yaml"
    path.write_text(yaml.safe_dump(data))
    args = argparse.Namespace(file=str(path), backend="external", seed=1, static=True)
    assert check_command.main(args) == 0
    return scenario_lines(capsys.readouterr().out)


def test_an_api_without_a_handle_leaves_unknown_exactly_the_scenarios_that_fault_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = static_check(tmp_path, capsys, drop_handle="api")
    for sid in ("TEST-RR-003", "TEST-RR-007", "TEST-RR-RE02", "TEST-RR-S01", "TEST-WR-004", "TEST-WR-005"):
        assert lines[sid].startswith("unknown: handles.api:"), (sid, lines[sid])
    # S02 runs the failure modes it can: a kill of the API it cannot make is one mode less
    for sid in ("TEST-RR-S02", "TEST-RR-002", "TEST-RR-004", "TEST-RR-Q01"):
        assert "handles.api" not in lines[sid], (sid, lines[sid])


def test_a_database_without_a_handle_leaves_the_queue_store_crash_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = static_check(tmp_path, capsys, drop_handle="db")
    assert lines["TEST-RR-Q01"].startswith("unknown: handles.queue_store:"), lines["TEST-RR-Q01"]
    assert "handles" not in lines["TEST-RR-004"]
