"""``chaos-audit matrix --jobs N``: defect rows side by side give the serial matrix, an alone row
runs by itself. Driven with stand-in scenarios that fail exactly when their catalogue defect is on
(``$CHAOS_AUDIT_SCENARIOS``), so the whole command runs in seconds without a stack."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.cli_runs import chaos_audit, stand_in_env

#: one stand-in per catalogue scenario: it fails when the run's defect is one it must catch
STAND_INS = """
import pytest
from harness import catalog


def _scenario(entry):
    @pytest.mark.audit(id=entry.id, title=entry.title, task=entry.task, severity=entry.severity.value)
    def scenario(pytestconfig):
        defects = {d for d in pytestconfig.getoption("--chaos-defect").split(",") if d}
        assert not defects & set(entry.defects), f"caught {sorted(defects)}"

    return scenario


for _entry in catalog.ENTRIES:
    globals()["test_" + _entry.id.lower().replace("-", "_")] = _scenario(_entry)
"""
DEFECTS = "no_fencing,unbounded_prefetch,no_idempotency,no_job_timeout"
#: room for a loaded machine: every row is a pytest child (never asserted on)
TIMEOUT_S = 600


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    return stand_in_env(tmp_path, STAND_INS)


def _matrix(env: dict[str, str], out: Path, jobs: str) -> subprocess.CompletedProcess[str]:
    argv = [*chaos_audit("matrix"), "--defects", DEFECTS, "--seed", "5",
            "--report-dir", str(out), "--jobs", jobs]  # fmt: skip
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


def _lines(stdout: str, out: Path) -> list[str]:
    """The printed lines without their timings and report folder."""
    lines = stdout.replace(str(out), "DIR").splitlines()[1:]
    return [re.sub(r"\[\d+\.\d s\]|in \d+ s", "", line) for line in lines]


def test_rows_side_by_side_give_the_serial_matrix_and_the_alone_row_runs_by_itself(
    stand_ins: dict[str, str], tmp_path: Path
) -> None:
    serial = _matrix(stand_ins, tmp_path / "serial", "1")
    parallel = _matrix(stand_ins, tmp_path / "parallel", "3")
    assert serial.returncode == parallel.returncode == 0, parallel.stdout + parallel.stderr
    assert "3 side by side" in parallel.stdout.splitlines()[0]
    # the same rows, in the same order, with the same verdicts
    assert _lines(parallel.stdout, tmp_path / "parallel") == _lines(serial.stdout, tmp_path / "serial")
    s, p = (json.loads((tmp_path / d / "matrix.json").read_text()) for d in ("serial", "parallel"))
    assert p == s and p["ok"] and len(p["rows"]) == 4 and len(p["correct"]) == 34
    spans = {}
    for defect in DEFECTS.split(","):
        run = json.loads((tmp_path / "parallel" / "defects" / defect / "run.json").read_text())
        spans[defect] = (run["started_at"], run["finished_at"])
    flood = spans.pop("unbounded_prefetch")  # TEST-RR-Q03's defect: Q03 runs alone
    assert all(end <= flood[0] or flood[1] <= start for start, end in spans.values())
    assert (tmp_path / "parallel" / "correct" / "workers").is_dir()  # the correct target side by side too


def test_the_matrix_refuses_a_bad_jobs_value(stand_ins: dict[str, str], tmp_path: Path) -> None:
    done = _matrix(stand_ins, tmp_path / "m", "0")
    assert done.returncode == 2 and "--jobs" in done.stderr and not (tmp_path / "m").exists()
