"""``chaos-audit run`` SIGKILLed (as a CI timeout does): nothing it started outlives it.

The real audit runs TEST-RR-006 (a partition on the fault proxy) against the reference target. Each
case waits for one point of the run (the pytest child is up, the infrastructure is up, the
target's services are up, the partition is active), waits a seeded extra moment, then SIGKILLs the
command, which can run no clean-up of its own. The child and every service must then be gone (by
``ps``) and none of their ports may still answer. The last case wedges the orphan (SIGSTOP: it can
react to nothing) and checks that the next run reaps it before it starts.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from procwatch import listening_ports, marked_processes, port_answers, ps_alive

from harness.run.watchdog import GRACE_S

pytestmark = pytest.mark.slow

#: room for a loaded machine on top of the bounds the harness itself sets (never asserted on)
LOADED_ROOM_S = 120.0
#: the child heals, stops its stack and exits, or its watchdog kills it after its grace
GONE_WITHIN_S = GRACE_S + LOADED_ROOM_S
CACHES = ("chaos-audit-pgdata-", "chaos-audit-pgbin-")
STAND_IN = """
import pytest

@pytest.mark.audit(id="TEST-RR-004", title="stand-in", task="Recovery & Resume", severity="HIGH")
def test_stand_in():
    pass
"""

Processes = dict[int, list[str]]


def _child(procs: Processes) -> bool:
    return any("pytest" in argv for argv in procs.values())


def _infra(procs: Processes) -> bool:
    return any("proxy" in argv and "harness.cli" in argv for argv in procs.values())


def _services(procs: Processes) -> bool:
    return any("reftarget.api" in argv for argv in procs.values())


def _partition(procs: Processes) -> bool:
    for argv in procs.values():
        if "proxy" in argv and "--port" in argv:
            api = f"http://127.0.0.1:{argv[argv.index('--port') + 1]}"
            try:
                proxies = requests.get(f"{api}/proxies", timeout=1).json()
            except (requests.RequestException, ValueError):
                return False
            return any(t["name"].startswith("partition") for p in proxies.values() for t in p["toxics"])
    return False


POINTS: dict[str, Callable[[Processes], bool]] = {
    "child started": _child,
    "infrastructure up": _infra,
    "services up": _services,
    "partition active": _partition,
}


@pytest.fixture
def scratch() -> Iterator[Path]:
    # Not under tmp_path: pytest's base temp dir is private to root, and PostgreSQL runs as nobody.
    path = Path(tempfile.mkdtemp(prefix="chaos-audit-sigkill-test-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(scratch: Path, marker: str) -> dict[str, str]:
    return {
        **os.environ,
        "TMPDIR": str(scratch),
        "CHAOS_AUDIT_PG_DIR": str(scratch),
        "CHAOS_AUDIT_STATE_DIR": str(scratch / "state"),
        "CHAOS_TEST_MARKER": marker,
    }


def _start(env: dict[str, str], out: Path, seed: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "harness.cli", "run", "--only", "TEST-RR-006", "--seed", str(seed),
            "--report-dir", str(out)]  # fmt: skip
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(point: str, proc: subprocess.Popen[bytes], marker: str) -> Processes:
    # No deadline of our own: a run that ends first fails here, one that hangs is the suite's timeout
    # to report (a stack start on a loaded machine has no bound we could derive).
    while True:
        assert proc.poll() is None, f"the run ended before {point}"
        procs = marked_processes(marker)
        if POINTS[point](procs):
            return procs
        time.sleep(0.02)


def _wait_gone(marker: str) -> Processes:
    deadline = time.monotonic() + GONE_WITHIN_S
    left = marked_processes(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = marked_processes(marker)
    return left


@pytest.mark.parametrize(("point", "seed"), [(p, i) for i, p in enumerate(POINTS, start=11)])
def test_sigkill_of_the_run_leaves_no_process_and_no_port(
    point: str, seed: int, scratch: Path, tmp_path: Path
) -> None:
    marker = f"chaos-audit-sigkill-{uuid.uuid4()}"
    proc = _start(_env(scratch, marker), tmp_path / "report", seed)
    try:
        _wait_for(point, proc, marker)
        time.sleep(random.Random(seed).uniform(0.0, 0.5))  # a seeded moment after the point
        procs = marked_processes(marker)
        ports = listening_ports(list(procs))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    started = sorted(p for p in procs if p != proc.pid)
    assert started, "the run had started nothing yet"
    left = _wait_gone(marker)
    assert left == {}, f"left running {GONE_WITHIN_S} s after the SIGKILL ({point}): {left}"
    assert ps_alive(started) == []
    assert [p for p in sorted(ports) if port_answers(p)] == []
    # It stopped because the command died, not because the audit was over (a one-scenario audit
    # would soon end by itself): pytest saw the interrupt, or it never got as far as the plugin.
    run_json = tmp_path / "report" / "run.json"
    if run_json.exists():
        assert json.loads(run_json.read_text())["interrupted"] is True
    # The interrupted child removed its own temp dirs; its pid record is reaped by the next run.
    leftovers = [p.name for p in scratch.iterdir() if p.name != "state" and not p.name.startswith(CACHES)]
    assert leftovers == []


def test_the_next_run_reaps_a_wedged_orphan_before_it_starts(scratch: Path, tmp_path: Path) -> None:
    marker = f"chaos-audit-sigkill-{uuid.uuid4()}"
    env = _env(scratch, marker)
    proc = _start(env, tmp_path / "report", seed=7)
    try:
        procs = _wait_for("services up", proc, marker)
        child = next(pid for pid, argv in procs.items() if "pytest" in argv)
        os.kill(child, signal.SIGSTOP)  # a wedged orphan: it will notice nothing
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    orphans = marked_processes(marker)
    assert child in orphans and len(orphans) > 1, orphans  # its services are still running
    ports = listening_ports(list(orphans))
    stand_ins = tmp_path / "stand-ins"
    stand_ins.mkdir()
    (stand_ins / "test_stand_in.py").write_text(STAND_IN)
    nxt = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--report-dir", str(tmp_path / "next")],
        env={**env, "CHAOS_AUDIT_SCENARIOS": str(stand_ins), "CHAOS_TEST_MARKER": "next-run"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert nxt.returncode == 0, nxt.stdout + nxt.stderr
    assert f"reaped pytest-child of dead run {proc.pid}: killed pid {child}" in nxt.stderr
    assert marked_processes(marker) == {}
    assert ps_alive(sorted(orphans)) == []
    assert [p for p in sorted(ports) if port_answers(p)] == []
    leftovers = [p.name for p in scratch.iterdir() if p.name != "state" and not p.name.startswith(CACHES)]
    assert leftovers == []
    assert list((scratch / "state").rglob("*.json")) == []
