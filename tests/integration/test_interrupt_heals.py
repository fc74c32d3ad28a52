"""Ctrl-C in the middle of a fault: every fault healed, no process, stopped process or temp dir left.

The real audit runs TEST-RR-006 against the reference target. The Ctrl-C must land while the
partition is active, however fast or slow the machine: the scenario heals it by itself a moment
later (worker-2 takes the item over once worker-1's lease expires), and a Ctrl-C that lands after
that tests nothing. So the test holds the pytest child, the only process that can heal: it stops it
(SIGSTOP) and only then looks at the fault proxy, until a look finds both partition toxics in
place. From that state the scenario can take no step: the test sends SIGINT to ``chaos-audit run``
as a terminal's Ctrl-C would, waits until the command has passed the interrupt on (SIGINT pending
on the held child), lets the child go (SIGCONT), and checks what is left on the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
from procwatch import signal_pending, stopped

from harness.history import History
from harness.run.child import STOP_GRACE_S

pytestmark = __import__("pytest").mark.slow

#: room for a loaded machine on top of the bounds the harness itself sets (never asserted on)
LOADED_ROOM_S = 120.0
#: how long the child runs between two held looks: a pace, not a bound (the partition stays until
#: worker-2 has taken the item over after worker-1's lease expired, many looks later)
LOOK_EVERY_S = 0.02
#: both toxics of ``Faults.partition``: the partition is fully in place
PARTITION = {"partition-upstream", "partition-downstream"}


def _marked_processes(marker: str) -> list[tuple[int, str]]:
    """(pid, state) of every live process whose environment carries ``marker``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() not in Path(f"/proc/{entry.name}/environ").read_bytes():
                continue
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        state = stat[stat.rfind(")") + 2]
        if state != "Z":
            found.append((int(entry.name), state))
    return found


def _proxy_api(marker: str) -> str | None:
    """The URL of the run's fault proxy, read from its command line."""
    for pid, _ in _marked_processes(marker):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if "proxy" in argv and "--port" in argv:
            return f"http://127.0.0.1:{argv[argv.index('--port') + 1]}"
    return None


def _active_toxics(api: str) -> list[str]:
    try:
        proxies = requests.get(f"{api}/proxies", timeout=1).json()
    except (requests.RequestException, ValueError):
        return []
    return [t["name"] for p in proxies.values() for t in p["toxics"]]


def _pytest_child(marker: str) -> int | None:
    """The pid of the run's pytest child (``python -m pytest``), the process that heals the faults."""
    for pid, _ in _marked_processes(marker):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if argv[1:3] == ["-m", "pytest"]:
            return pid
    return None


def _hold(pid: int) -> bool:
    """SIGSTOP ``pid`` and wait until every thread has stopped; False when it is gone (the run ended).

    ``kill`` returns before the stop has landed: a look taken earlier could still be undone by
    the child's next step.
    """
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return False
    while not stopped(pid):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat[stat.rfind(")") + 2] in ("Z", "X"):  # exited, not yet reaped by the command
            return False
        time.sleep(0.001)
    return True


def _release(pid: int) -> bool:
    """SIGCONT ``pid``; returns False (no longer held)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)
    return False


def _run_ended(proc: subprocess.Popen[str], before: str) -> AssertionError:
    output, _ = proc.communicate()
    return AssertionError(f"the run ended before {before}: {output}")


def test_ctrl_c_mid_partition_heals_everything_and_leaves_nothing(tmp_path: Path) -> None:
    # Not under tmp_path: pytest's base temp dir is private to root, and PostgreSQL runs as nobody.
    scratch = Path(tempfile.mkdtemp(prefix="chaos-audit-interrupt-test-", dir="/tmp"))
    os.chmod(scratch, 0o755)
    try:
        _interrupt_mid_partition(tmp_path, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _interrupt_mid_partition(tmp_path: Path, scratch: Path) -> None:
    marker = f"chaos-audit-interrupt-{uuid.uuid4()}"
    env = {
        **os.environ,
        "TMPDIR": str(scratch),
        "CHAOS_AUDIT_PG_DIR": str(scratch),
        "CHAOS_AUDIT_STATE_DIR": str(scratch / "state"),
        "CHAOS_TEST_MARKER": marker,
    }
    out = tmp_path / "report"
    argv = [sys.executable, "-m", "harness.cli", "run", "--only", "TEST-RR-006", "--report-dir", str(out)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    child: int | None = None
    held = False
    try:
        # No deadline of our own: the run's own bounds end it (then we fail here), and a run that
        # hangs is the suite's timeout to report.
        api = None
        while child is None or api is None:
            if proc.poll() is not None:
                raise _run_ended(proc, "its pytest child and fault proxy were up")
            child = child or _pytest_child(marker)
            api = api or _proxy_api(marker)
            time.sleep(0.02)
        # Look only while the child is held: what a look finds stays true until we let it go.
        while True:
            held = _hold(child)
            if not held:
                raise _run_ended(proc, "the partition was observed on the proxy")
            toxics = _active_toxics(api)
            if set(toxics) >= PARTITION:
                break
            held = _release(child)
            time.sleep(LOOK_EVERY_S)
        assert any(t.startswith("partition") for t in toxics), toxics
        proc.send_signal(signal.SIGINT)
        # The command forwards the Ctrl-C to its child's group; it waits, pending, on the held child.
        while not signal_pending(child, signal.SIGINT):
            if proc.poll() is not None:
                raise _run_ended(proc, "it passed the Ctrl-C on to its pytest child")
            time.sleep(0.01)
        held = _release(child)
        # It now heals and stops its stack within the command's grace (else it is killed).
        output, _ = proc.communicate(timeout=STOP_GRACE_S + LOADED_ROOM_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if held and child is not None:
            _release(child)  # never leave it stopped: it heals on its parent's death
    assert proc.returncode == 3, output
    # Every fault the scenario started was healed before its stack went away.
    history = History.load(out / "histories" / "TEST-RR-006.jsonl")
    started = [(f.name, f.target) for f in history.faults() if f.phase == "start"]
    healed = [(f.name, f.target) for f in history.faults() if f.phase == "heal"]
    assert ("partition", "worker-1-db") in started
    assert sorted(started) == sorted(healed), (started, healed)
    # No process of the run is left (running, orphaned or stopped), and no temp dir.
    assert _marked_processes(marker) == []
    # Caches shared by runs (a pristine initdb cluster, world-readable binaries) are meant to stay.
    caches = ("chaos-audit-pgdata-", "chaos-audit-pgbin-")
    leftovers = [p.name for p in scratch.iterdir() if p.name != "state" and not p.name.startswith(caches)]
    assert leftovers == []
    assert list((scratch / "state").rglob("*.json")) == []
