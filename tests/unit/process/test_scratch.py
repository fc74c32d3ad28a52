"""A run's scratch folder goes with the run: removed on close, reaped after a SIGKILL."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.process.pidfiles import STATE_DIR_ENV, PidFiles
from harness.process.scratch import ScratchDir

KILLED = """
import sys, time
from harness.process.scratch import ScratchDir
print(ScratchDir("chaos-audit-test-scratch-").path, flush=True)
time.sleep(60)
"""


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "state"))
    return tmp_path / "state" / "pids"


def test_an_owned_folder_is_removed_on_close_and_its_record_dropped(state: Path) -> None:
    scratch = ScratchDir("chaos-audit-test-scratch-")
    (scratch.path / "api.log").write_text("a service's log")
    assert len(list(state.glob("*.json"))) == 1
    scratch.close()
    scratch.close()  # idempotent: a second close (an error path) is harmless
    assert not scratch.path.exists()
    assert list(state.glob("*.json")) == []


@pytest.mark.parametrize("given", ["path", "keep"])
def test_a_callers_folder_or_one_kept_for_its_logs_stays(state: Path, tmp_path: Path, given: str) -> None:
    scratch = (
        ScratchDir("chaos-audit-test-scratch-", path=tmp_path / "mine")
        if given == "path"
        else ScratchDir("chaos-audit-test-scratch-", keep=True)
    )
    scratch.path.mkdir(exist_ok=True)
    scratch.close()
    try:
        assert scratch.path.is_dir()
        assert PidFiles(state).reap_stale() == []
    finally:
        shutil.rmtree(scratch.path)


def test_the_folder_of_a_killed_run_is_reaped_by_the_next_one(state: Path) -> None:
    run = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED)], stdout=subprocess.PIPE, text=True)
    assert run.stdout is not None
    folder = Path(run.stdout.readline().strip())
    assert folder.is_dir()
    run.send_signal(signal.SIGKILL)  # no finally block runs
    run.wait(timeout=10)
    assert folder.is_dir()
    reaped = PidFiles(state).reap_stale()
    assert len(reaped) == 1 and f"dead run {run.pid}" in reaped[0] and "removed 1 path(s)" in reaped[0]
    assert not folder.exists()
