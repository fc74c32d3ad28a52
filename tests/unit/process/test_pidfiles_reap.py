"""Reaping what a dead run left: owner chains (run command -> pytest child -> services), own records.

Real processes: a "run command" script starts a "pytest child" and records it; the child starts a
"service" and records it (owned by the child); then the run command exits, as a SIGKILLed one
would, leaving the child and its service running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness.process.pidfiles import PidFiles, is_same_process, process_start_time

CHILD = """
import subprocess, sys, time
from pathlib import Path
from harness.process.pidfiles import PidFiles
service = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True,
                           stdout=subprocess.DEVNULL)
PidFiles(Path(sys.argv[1])).record("service", pid=service.pid)
Path(sys.argv[2]).write_text(str(service.pid))
time.sleep(60)
"""

RUN = """
import subprocess, sys, time
from pathlib import Path
from harness.process.pidfiles import PidFiles
child = subprocess.Popen([sys.executable, "-c", sys.argv[3], sys.argv[1], sys.argv[2]], start_new_session=True,
                         stdout=subprocess.DEVNULL)
PidFiles(Path(sys.argv[1])).record("pytest-child", pid=child.pid)
while not Path(sys.argv[2]).exists():
    time.sleep(0.01)
print(child.pid, flush=True)
"""


def _orphaned_chain(tmp_path: Path) -> tuple[int, int]:
    """The pids of a live child and its live service, whose run command has exited."""
    state, ready = tmp_path / "pids", tmp_path / "service.pid"
    run = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(RUN), str(state), str(ready), textwrap.dedent(CHILD)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert run.stdout is not None
    child = int(run.stdout.readline())
    assert run.wait(timeout=30) == 0
    return child, int(ready.read_text())


def test_a_dead_runs_child_and_the_services_it_owns_are_all_reaped(tmp_path: Path) -> None:
    child, service = _orphaned_chain(tmp_path)
    starts = {pid: process_start_time(pid) for pid in (child, service)}
    try:
        assert all(is_same_process(pid, start) for pid, start in starts.items())
        reaped = PidFiles(tmp_path / "pids").reap_stale()
        assert any(
            "reaped pytest-child of dead run" in line and f"killed pid {child}" in line for line in reaped
        )
        assert any(f"reaped service of dead run {child}: killed pid {service}" in line for line in reaped)
        assert not any(is_same_process(pid, start) for pid, start in starts.items())
        assert list((tmp_path / "pids").glob("*.json")) == []
    finally:
        for pid, start in starts.items():
            if is_same_process(pid, start):
                os.kill(pid, signal.SIGKILL)


def test_reap_own_kills_only_what_this_process_recorded(tmp_path: Path) -> None:
    mine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        pidfiles = PidFiles(tmp_path / "pids")
        pidfiles.record("service", pid=mine.pid)
        # a record of another live harness process (our parent, pytest's launcher) stays untouched
        other = tmp_path / "pids" / f"{os.getppid()}-other-paths.json"
        other.write_text(
            f'{{"owner_pid": {os.getppid()}, "owner_start": {process_start_time(os.getppid())}, '
            '"name": "other", "cleanup_paths": []}'
        )
        lines = pidfiles.reap_own()
        assert lines == [f"reaped service of this run: killed pid {mine.pid}, removed 0 path(s)"]
        assert mine.wait(timeout=5) == -signal.SIGKILL
        assert [p.name for p in (tmp_path / "pids").glob("*.json")] == [other.name]
    finally:
        if mine.poll() is None:
            mine.kill()


WORKER = """
import subprocess, sys, tempfile, time
from pathlib import Path
from harness.process.pidfiles import PidFiles
pidfiles = PidFiles(Path(sys.argv[1]))
service = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
folder = tempfile.mkdtemp(prefix="chaos-audit-test-worker-")
pidfiles.record("service", pid=service.pid)
pidfiles.record("run-dir", cleanup_paths=[folder])
pidfiles.record("run-dir", cleanup_paths=[folder + "-2"])  # a second one of the same name and process
Path(sys.argv[2]).write_text(f"{service.pid} {folder}")
time.sleep(60)
"""


def test_parallel_workers_never_reap_a_live_siblings_processes(tmp_path: Path) -> None:
    """Two workers of one parallel run share the registry: a sibling's reaping (at its start, or at
    the run's end) touches only what a dead worker left."""
    state = tmp_path / "pids"
    workers, services = [], []
    try:
        for name in ("w1", "w2"):
            ready = tmp_path / f"{name}.ready"
            workers.append(
                subprocess.Popen([sys.executable, "-c", textwrap.dedent(WORKER), str(state), str(ready)])
            )
            while not ready.exists():
                assert workers[-1].poll() is None, "the worker died before recording its service"
                time.sleep(0.01)
            pid, folder = ready.read_text().split()
            services.append((int(pid), process_start_time(int(pid)), Path(folder)))
        assert len(list(state.glob("*.json"))) == 6  # nothing overwritten: 3 records per worker
        assert PidFiles(state).reap_stale() == []  # both owners live: nothing is touched
        assert all(is_same_process(pid, start) and folder.is_dir() for pid, start, folder in services)
        workers[0].kill()  # w1 dies (an OOM kill, a crash): its leftovers are fair game, w2's are not
        workers[0].wait()
        reaped = PidFiles(state).reap_stale()
        assert len(reaped) == 3 and all(f"dead run {workers[0].pid}" in line for line in reaped)
        (w1_pid, w1_start, w1_dir), (w2_pid, w2_start, w2_dir) = services
        assert not is_same_process(w1_pid, w1_start) and not w1_dir.exists()
        assert is_same_process(w2_pid, w2_start) and w2_dir.is_dir()
    finally:
        for proc in workers:
            proc.kill()
            proc.wait()
        PidFiles(state).reap_stale()


def test_a_live_owners_services_are_never_reaped_by_a_sibling(tmp_path: Path) -> None:
    """Test processes side by side (xdist workers, audits beside the suite) share the default state dir:
    a reap in one of them leaves every record of a live owner, and its processes, alone."""
    state, ready = tmp_path / "pids", tmp_path / "service.pid"
    sibling = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(state), str(ready)], stdout=subprocess.DEVNULL
    )
    service, started = 0, None
    try:
        while not (ready.exists() and ready.read_text().strip()):  # written once its record is
            assert sibling.poll() is None, "the sibling ended before recording its service"
            time.sleep(0.01)
        service = int(ready.read_text())
        started = process_start_time(service)
        assert PidFiles(state).reap_stale() == []
        assert is_same_process(service, started) and len(list(state.glob("*.json"))) == 1
        sibling.kill()  # its owner gone (a SIGKILLed worker): now, and only now, it is stale
        sibling.wait()
        assert PidFiles(state).reap_stale() == [
            f"reaped service of dead run {sibling.pid}: killed pid {service}, removed 0 path(s)"
        ]
        assert not is_same_process(service, started)
    finally:
        if sibling.poll() is None:
            sibling.kill()
        if service and is_same_process(service, started):
            os.kill(service, signal.SIGKILL)
