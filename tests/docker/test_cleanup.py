"""No container of a run survives it: a normal end, a Ctrl-C mid-run, a SIGKILL then another run.

Each case runs a real scenario (TEST-RR-002, a few seconds) with ``--chaos-backend docker`` in a
child pytest and looks for containers carrying the child's owner label afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.stack.containers import OWNER_PID_LABEL, RUN_LABEL, SERVICE_LABEL, labelled

# One Docker engine for the whole suite: its tests run one after the other in one xdist worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("docker")]
REPO = Path(__file__).resolve().parents[2]


def _run_scenario() -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "scenarios"),
            "--chaos-backend", "docker", "--chaos-only", "TEST-RR-002"]  # fmt: skip
    return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _containers_of(client: Any, pid: int) -> list[dict[str, str]]:
    """The labels of every container owned by harness process ``pid``."""
    return [labels for _, labels, _ in labelled(client, f"{OWNER_PID_LABEL}={pid}")]


def _wait_for_target_container(client: Any, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    """Until the run has started the target's API container (mid-scenario)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(labels.get(SERVICE_LABEL) == "api" for labels in _containers_of(client, proc.pid)):
            return
        assert proc.poll() is None, (proc.stdout.read() if proc.stdout else b"").decode()[-2000:]
        time.sleep(0.1)
    raise AssertionError("the scenario never started its api container")


def test_normal_run_leaves_nothing(docker_engine: Any) -> None:
    proc = _run_scenario()
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out.decode()[-2000:]
    assert _containers_of(docker_engine, proc.pid) == []


def test_ctrl_c_mid_run_leaves_nothing(docker_engine: Any) -> None:
    proc = _run_scenario()
    _wait_for_target_container(docker_engine, proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert b"KeyboardInterrupt" in out or proc.returncode != 0
    assert _containers_of(docker_engine, proc.pid) == []


def test_sigkill_leftovers_are_reaped_by_the_next_run(docker_engine: Any) -> None:
    proc = _run_scenario()
    _wait_for_target_container(docker_engine, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    left = _containers_of(docker_engine, proc.pid)
    assert left, "a SIGKILLed run cannot clean up: its containers are still there"
    run_id = left[0][RUN_LABEL]
    again = _run_scenario()
    out, _ = again.communicate(timeout=240)
    assert again.returncode == 0, out.decode()[-2000:]
    assert b"removed leftover container" in out or _containers_of(docker_engine, proc.pid) == []
    assert labelled(docker_engine, f"{RUN_LABEL}={run_id}") == []
    assert _containers_of(docker_engine, again.pid) == []
