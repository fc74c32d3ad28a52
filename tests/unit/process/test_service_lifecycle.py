"""ProcessService on real children: start, ready, kill (whole group), pause, stop, restart, records."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.errors import ServiceError
from harness.process.pidfiles import PidFiles, process_start_time
from harness.process.readiness import HttpReady, LogReady, ReadinessContext
from harness.process.service import ProcessService, process_group_members

MakeService = Callable[..., ProcessService]

#: a readiness wait's bound: the children are ready within a second on an idle machine; this only
#: matters when they never are, and leaves room for a loaded one
READY_TIMEOUT_S = 60.0
#: how long ``stop`` waits after SIGTERM before SIGKILL, where the test must tell the two apart
SIGKILL_AFTER_S = 60.0

SPAWNS_GRANDCHILD = """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print("grandchild", child.pid, flush=True)
    time.sleep(60)
"""
IGNORES_SIGTERM = """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready", flush=True)
    time.sleep(60)
"""


def _records(pidfiles: PidFiles) -> list[Path]:
    return sorted(pidfiles.state_dir.glob("*.json"))


def _gone(pid: int) -> bool:
    return process_start_time(pid) is None  # no such process, or a zombie: either way not running


def test_http_child_starts_ready_and_stop_forgets_its_record(
    http_service: ProcessService, pidfiles: PidFiles
) -> None:
    http_service.start()
    waited = http_service.wait_ready(timeout=READY_TIMEOUT_S)
    assert 0 <= waited < READY_TIMEOUT_S
    assert http_service.running and http_service.pid is not None
    assert [p.name for p in _records(pidfiles)] == [f"{pidfiles._owner_pid}-web-{http_service.pid}.json"]
    pid = http_service.pid

    http_service.stop()

    assert not http_service.running and http_service.pid is None
    assert http_service.returncode is not None
    assert _gone(pid)
    assert _records(pidfiles) == []


def test_kill_takes_the_whole_process_group_and_reaps_at_once(
    make_service: MakeService, pidfiles: PidFiles
) -> None:
    svc = make_service("parent", SPAWNS_GRANDCHILD, readiness=LogReady(r"grandchild \d+"))
    svc.start()
    svc.wait_ready(timeout=READY_TIMEOUT_S)
    match = re.search(r"grandchild (\d+)", svc.read_log())
    assert match is not None and svc.pid is not None
    parent, grandchild = svc.pid, int(match.group(1))
    assert sorted(process_group_members(parent)) == sorted([parent, grandchild])

    svc.kill()

    assert svc.returncode == -signal.SIGKILL
    assert _gone(parent) and _gone(grandchild)
    assert process_group_members(parent) == []
    assert _records(pidfiles) == []


def test_a_paused_child_does_not_answer_until_resumed(http_service: ProcessService) -> None:
    url = http_service.readiness.url  # type: ignore[union-attr]
    http_service.start()
    http_service.wait_ready(timeout=READY_TIMEOUT_S)

    http_service.pause()
    assert http_service.paused and http_service.running
    # a frozen process never answers: a short attempt is enough to see it
    assert HttpReady(url, attempt_timeout=0.3).check(ReadinessContext()) == "timed out"

    http_service.resume()
    assert not http_service.paused
    # the resumed one answers, however long a loaded machine takes to schedule it
    assert HttpReady(url, attempt_timeout=READY_TIMEOUT_S).check(ReadinessContext()) is None


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(make_service: MakeService) -> None:
    svc = make_service("stubborn", IGNORES_SIGTERM, readiness=LogReady("ready"))
    svc.start()
    svc.wait_ready(timeout=READY_TIMEOUT_S)
    started = time.monotonic()

    svc.stop(timeout=0.3)

    assert time.monotonic() - started >= 0.3
    assert svc.returncode == -signal.SIGKILL


def test_stop_is_graceful_first(make_service: MakeService) -> None:
    code = """
        import signal, sys, time
        def bye(signum, frame):
            print("bye", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        time.sleep(60)
    """
    svc = make_service("polite", code, readiness=LogReady("ready"))
    svc.start()
    svc.wait_ready(timeout=READY_TIMEOUT_S)
    svc.stop(timeout=SIGKILL_AFTER_S)
    assert svc.returncode == 0
    assert "bye" in svc.read_log(svc.run_log_offset)


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_paused_child_is_not_left_stopped(make_service: MakeService, how: str) -> None:
    svc = make_service("sleepy", SPAWNS_GRANDCHILD, readiness=LogReady(r"grandchild \d+"))
    svc.start()
    svc.wait_ready(timeout=READY_TIMEOUT_S)
    assert svc.pid is not None
    pgid = svc.pid
    svc.pause()
    started = time.monotonic()

    svc.stop(timeout=SIGKILL_AFTER_S) if how == "stop" else svc.kill()

    # a frozen child that ignored the SIGTERM would be SIGKILLed after SIGKILL_AFTER_S (and the
    # return code would say so): half of it is room enough for a loaded machine
    assert time.monotonic() - started < SIGKILL_AFTER_S / 2, (
        "a paused child must get SIGTERM, not wait for the SIGKILL"
    )
    assert svc.returncode == (-signal.SIGTERM if how == "stop" else -signal.SIGKILL)
    assert not svc.paused
    assert process_group_members(pgid) == []


def test_restart_appends_to_the_same_log_and_waits_for_the_new_run(make_service: MakeService) -> None:
    code = """
        import os, time
        print("run of", os.getpid(), flush=True)
        time.sleep(60)
    """
    svc = make_service("again", code, readiness=LogReady(r"run of \d+"))
    svc.start()
    svc.wait_ready(timeout=READY_TIMEOUT_S)
    first_pid = svc.pid
    assert svc.run_log_offset == 0

    svc.restart(kill=True)
    svc.wait_ready(timeout=READY_TIMEOUT_S)

    assert svc.pid != first_pid
    assert svc.read_log().count("run of") == 2
    assert svc.run_log_offset > 0
    assert svc.read_log(svc.run_log_offset).strip() == f"run of {svc.pid}"
    assert svc.log_tail() == [f"run of {svc.pid}"]


def test_a_child_that_exits_by_itself_forgets_its_record(
    make_service: MakeService, pidfiles: PidFiles
) -> None:
    svc = make_service("brief", "print('done')")
    svc.start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while svc.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert svc.returncode == 0
    assert _records(pidfiles) == []


def test_a_command_that_cannot_start_is_a_service_error(tmp_path: Path, pidfiles: PidFiles) -> None:
    svc = ProcessService(
        "ghost", [str(tmp_path / "no-such-binary")], log_path=tmp_path / "g.log", pidfiles=pidfiles
    )
    with pytest.raises(ServiceError, match=r"could not start .*no-such-binary"):
        svc.start()
    assert not svc.running
    assert _records(pidfiles) == []


def test_a_kill_from_a_fault_thread_ends_a_readiness_wait_at_once(make_service: MakeService) -> None:
    svc = make_service("victim", "import time; time.sleep(60)", readiness=LogReady("never printed"))
    svc.start()
    fault = threading.Timer(0.2, svc.kill)
    fault.start()
    started = time.monotonic()
    with pytest.raises(ServiceError, match="killed by signal 9"):
        svc.wait_ready(timeout=READY_TIMEOUT_S)
    fault.join()
    assert time.monotonic() - started < READY_TIMEOUT_S / 2  # ended by the kill, not by the timeout


def test_start_is_idempotent_and_pause_needs_a_running_process(make_service: MakeService) -> None:
    svc = make_service("once", "import time; time.sleep(60)")
    with pytest.raises(ServiceError, match="not running"):
        svc.pause()
    svc.resume()  # a heal on a stopped service is a no-op
    svc.start()
    pid = svc.pid
    svc.start()
    assert svc.pid == pid
