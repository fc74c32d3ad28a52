"""Ctrl-C in the middle of a fault: every fault healed, no process, stopped process or temp dir left.

The real audit runs TEST-RR-006 against the reference target. The test waits until the partition
toxic is observed on the fault proxy (the exact point: a fault is active), sends SIGINT to
``chaos-audit run`` as a terminal's Ctrl-C would, then checks what is left on the machine.
"""

from __future__ import annotations

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

from harness.history import History

pytestmark = __import__("pytest").mark.slow


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
    try:
        deadline = time.monotonic() + 120
        toxics: list[str] = []
        while not toxics:
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before the partition was injected: {proc.stdout.read()}")
            assert time.monotonic() < deadline, "the partition toxic never appeared on the proxy"
            api = _proxy_api(marker)
            toxics = _active_toxics(api) if api else []
            time.sleep(0.02)
        assert any(t.startswith("partition") for t in toxics), toxics
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
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
