"""ServiceGroup leaves no process behind: after an exception, a failed start, SIGINT and SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ReadinessTimeout
from harness.process.group import ServiceGroup
from harness.process.pidfiles import PidFiles, process_start_time
from harness.process.readiness import LogReady
from harness.process.service import ProcessService, process_group_members

REPO = Path(__file__).resolve().parents[3]
#: A service with a grandchild in its process group; it logs the grandchild's pid.
PARENT = textwrap.dedent("""
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print("up", child.pid, flush=True)
    time.sleep(60)
""")


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    """The test's dir; afterwards, whatever a dead run recorded there is reaped even if the test failed."""
    yield tmp_path
    PidFiles(tmp_path / "pids").reap_stale()


def _services(tmp: Path, pidfiles: PidFiles, n: int = 3) -> list[ProcessService]:
    return [
        ProcessService(
            f"svc-{i}",
            [sys.executable, "-c", PARENT],
            log_path=tmp / f"svc-{i}.log",
            readiness=LogReady(r"up \d+"),
            pidfiles=pidfiles,
        )
        for i in range(n)
    ]


def _all_pids(services: list[ProcessService]) -> list[int]:
    pids: list[int] = []
    for svc in services:
        assert svc.pid is not None
        pids.append(svc.pid)
        pids += [int(m) for m in re.findall(r"up (\d+)", svc.read_log())]
    return pids


def _alive(pids: list[int]) -> list[int]:
    return [p for p in pids if process_start_time(p) is not None]


def test_an_exception_inside_the_group_stops_everything(tmp_path: Path) -> None:
    pidfiles = PidFiles(tmp_path / "pids")
    services = _services(tmp_path, pidfiles)
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="scenario bug"), ServiceGroup(services) as group:
        group["svc-1"].pause()
        pids = _all_pids(services)
        assert len(pids) == 6 and len(list(pidfiles.state_dir.glob("*.json"))) == 3
        raise RuntimeError("scenario bug")
    assert _alive(pids) == []
    assert all(process_group_members(svc_pid) == [] for svc_pid in pids)
    assert list(pidfiles.state_dir.glob("*.json")) == []
    assert not any(svc.paused or svc.running for svc in services)


def test_a_service_that_never_gets_ready_stops_the_ones_already_started(tmp_path: Path) -> None:
    pidfiles = PidFiles(tmp_path / "pids")
    first = _services(tmp_path, pidfiles, 1)[0]
    stuck = ProcessService(
        "stuck",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        log_path=tmp_path / "stuck.log",
        readiness=LogReady("never"),
        pidfiles=pidfiles,
    )
    group = ServiceGroup([first, stuck], ready_timeout=0.3)
    with pytest.raises(ReadinessTimeout, match="stuck not ready"), group:
        pytest.fail("the body must not run when the group could not start")
    assert not first.running and not stuck.running
    assert list(pidfiles.state_dir.glob("*.json")) == []


RUN_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path

    from harness.process.group import ServiceGroup
    from harness.process.pidfiles import PidFiles
    from harness.process.readiness import LogReady
    from harness.process.service import ProcessService
    from harness.process.signals import heal_on_interrupt

    tmp = Path(sys.argv[1])
    pidfiles = PidFiles(tmp / "pids")
    services = [
        ProcessService(f"svc-{i}", [sys.executable, "-c", sys.argv[2]], log_path=tmp / f"svc-{i}.log",
                       readiness=LogReady(r"up \\d+"), pidfiles=pidfiles)
        for i in range(2)
    ]
    with heal_on_interrupt(), ServiceGroup(services, parallel_start=True) as group:
        group["svc-0"].pause()
        print(json.dumps([svc.pid for svc in services]), flush=True)
        time.sleep(60)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_leaves_no_process_behind(run_dir: Path, sig: signal.Signals) -> None:
    tmp_path = run_dir
    script = tmp_path / "run.py"
    script.write_text(RUN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), PARENT],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    try:
        assert run.stdout is not None
        line = run.stdout.readline()
        assert line, f"the run did not start: {run.stderr.read() if run.stderr else ''}"
        leaders = json.loads(line)
        pids = leaders + [
            int(m) for i in range(2) for m in re.findall(r"up (\d+)", (tmp_path / f"svc-{i}.log").read_text())
        ]
        assert len(_alive(pids)) == 4

        run.send_signal(sig)
        _, stderr = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()

    assert run.returncode == 1, stderr  # the Interrupted raised in the main thread went uncaught
    assert f"Interrupted: interrupted by {sig.name}" in stderr
    assert _alive(pids) == []
    assert all(process_group_members(pid) == [] for pid in leaders)
    assert list((tmp_path / "pids").glob("*.json")) == []


STUBBORN = textwrap.dedent("""
    import signal, time
    signal.signal(signal.SIGTERM, lambda *_: print("got TERM", flush=True))
    print("up 0", flush=True)
    while True:
        time.sleep(60)
""")


def test_a_second_ctrl_c_during_cleanup_does_not_cut_it_short(run_dir: Path) -> None:
    tmp_path = run_dir
    script = tmp_path / "run.py"
    script.write_text(
        RUN_SCRIPT.replace("ServiceGroup(services, ", "ServiceGroup(services, stop_timeout=0.5, ")
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), STUBBORN],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    try:
        assert run.stdout is not None
        leaders = json.loads(run.stdout.readline())
        run.send_signal(signal.SIGINT)
        log = tmp_path / "svc-1.log"  # stopped first (reverse order); it ignores SIGTERM for 0.5 s
        deadline = time.monotonic() + 10
        while "got TERM" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.01)
        run.send_signal(signal.SIGINT)  # the impatient user presses Ctrl-C again
        _, stderr = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert "Interrupted: interrupted by SIGINT" in stderr
    assert _alive(leaders) == []
    assert list((tmp_path / "pids").glob("*.json")) == []
