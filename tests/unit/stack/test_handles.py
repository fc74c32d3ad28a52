"""Fault handles of a running stack: the user's commands on real processes, the journal, the model."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import CapabilityMissing, FaultError
from harness.stack.handles import CommandHandle, handle_for, wait_alive
from harness.stack.journal import Journal, JournaledHandle
from harness.target.handle_model import CommandsHandleSpec, HandleSpec
from harness.target.model import Service


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A real `sleep` process and its pid file, as a service the harness did not start."""
    proc = subprocess.Popen(["sleep", "60"])
    pidfile = tmp_path / "svc.pid"
    pidfile.write_text(str(proc.pid))
    yield proc, pidfile
    proc.kill()
    proc.wait()


def _commands(pidfile: Path, **extra: object) -> CommandsHandleSpec:
    # alive: the pid exists and is not a zombie (a killed child of ours stays one until reaped)
    alive = f"test \"$(awk '{{print $3}}' /proc/$(cat {pidfile})/stat 2>/dev/null)\" != '' -a \"$(awk '{{print $3}}' /proc/$(cat {pidfile})/stat)\" != Z"
    return CommandsHandleSpec.model_validate(
        {"kill": f"kill -KILL $(cat {pidfile})", "alive": ["sh", "-c", alive], **extra}
    )


def test_kill_through_the_users_command_kills_the_real_process(
    sleeper: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, pidfile = sleeper
    handle = CommandHandle("worker-1", _commands(pidfile))
    assert handle.running
    handle.kill()
    assert proc.wait(timeout=5) == -9
    assert not handle.running


def test_pause_and_resume_send_stop_and_cont(sleeper: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, pidfile = sleeper
    spec = _commands(
        pidfile, pause=f"kill -STOP $(cat {pidfile})", resume=["sh", "-c", f"kill -CONT $(cat {pidfile})"]
    )
    handle = CommandHandle("worker-1", spec)
    handle.pause()
    deadline = time.monotonic() + 5
    while _state(proc.pid) != "T" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _state(proc.pid) == "T"
    assert handle.running  # a paused service is alive
    handle.resume()
    deadline = time.monotonic() + 5
    while _state(proc.pid) == "T" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _state(proc.pid) in ("S", "R")


def test_restart_without_a_restart_verb_is_kill_then_start(
    tmp_path: Path, sleeper: tuple[subprocess.Popen[bytes], Path]
) -> None:
    proc, pidfile = sleeper
    # start: a new sleep in the background, its pid written where kill and alive look
    start = f"sleep 60 >/dev/null 2>&1 & echo $! > {pidfile}"
    handle = CommandHandle("worker-1", _commands(pidfile, start=start))
    handle.restart()
    assert proc.wait(timeout=5) == -9
    new_pid = int(pidfile.read_text())
    assert new_pid != proc.pid
    wait_alive(handle, timeout=5)
    os.kill(new_pid, 9)


def test_a_verb_the_file_leaves_out_is_a_missing_capability_naming_it(
    sleeper: tuple[subprocess.Popen[bytes], Path],
) -> None:
    _, pidfile = sleeper
    handle = CommandHandle("worker-1", _commands(pidfile))
    assert not handle.can("pause") and not handle.can("start") and handle.can("kill")
    with pytest.raises(CapabilityMissing, match=r"services\.worker-1\.handle\.commands\.pause"):
        handle.pause()
    with pytest.raises(CapabilityMissing, match=r"services\.worker-1\.handle\.commands\.start"):
        handle.start()


def test_a_failing_command_is_a_fault_error_with_its_stderr_tail() -> None:
    spec = CommandsHandleSpec(kill=["sh", "-c", "echo 'no such unit worker@1' >&2; exit 5"], alive=["true"])
    with pytest.raises(FaultError, match=r"commands\.kill: .* exited 5: no such unit worker@1"):
        CommandHandle("worker-1", spec).kill()


def test_a_hanging_command_times_out_as_a_fault_error() -> None:
    spec = CommandsHandleSpec(kill=["sleep", "120"], alive=["true"], timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(FaultError, match=r"did not finish within 0\.3s"):
        CommandHandle("worker-1", spec).kill()
    # its own 0.3 s, not the command's 120 s nor the 30 s default: room for a loaded machine
    assert time.monotonic() - started < 15


def test_the_journal_records_a_fault_before_it_is_made_and_forgets_it_when_healed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "t.json")
    seen: list[list[dict[str, object]]] = []

    class Spy:
        name = "worker-1"

        def can(self, verb: str) -> bool:
            return True

        def kill(self) -> None:
            seen.append(journal.entries())  # what a SIGKILL of the run at this instant would leave

        def start(self) -> None: ...
        def pause(self) -> None: ...
        def resume(self) -> None: ...
        def restart(self) -> None: ...
        def stop(self, timeout: float = 0.0) -> None: ...

        @property
        def running(self) -> bool:
            return True

    handle = JournaledHandle(Spy(), journal)
    handle.kill()
    assert [(e["kind"], e["service"]) for e in seen[0]] == [("killed", "worker-1")]
    assert journal.open_faults() and handle.down
    handle.start()
    assert journal.entries() == [] and not handle.down


def test_container_is_short_for_a_docker_handle_and_both_are_refused() -> None:
    assert Service(role="worker", container="w1").fault_handle == HandleSpec.model_validate(
        {"docker": {"container": "w1"}}
    )
    with pytest.raises(ValueError, match="not both"):
        Service(role="worker", container="w1", handle={"docker": {"container": "w1"}})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        HandleSpec.model_validate({})
    with pytest.raises(ValueError, match="pause and resume go together"):
        CommandsHandleSpec.model_validate({"kill": "x", "alive": "y", "pause": "z"})
    with pytest.raises(ValueError, match="attach: true"):
        Service(role="worker", attach=True, url="http://x")


def test_a_docker_handle_without_an_engine_fails_the_fault_not_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")  # nothing listens there
    handle = handle_for(
        "worker-1", HandleSpec.model_validate({"docker": {"container": "w1"}}), log_dir=tmp_path
    )
    with pytest.raises(FaultError, match=r"services\.worker-1\.handle\.docker"):
        handle.kill()


def test_heal_resumes_a_paused_service_and_starts_a_killed_one_from_the_journal(tmp_path: Path) -> None:
    """What ``chaos-audit heal`` does for services after a run died: only the file and the journal."""
    from harness.stack.heal import heal_target
    from harness.target.model import Target

    paused = subprocess.Popen(["sleep", "60"])
    (tmp_path / "w1.pid").write_text(str(paused.pid))
    (tmp_path / "w2.pid").write_text("999999999")  # killed by the dead run: nothing runs
    os.kill(paused.pid, 19)  # SIGSTOP, as the dead run's pause left it

    def handle(name: str) -> dict[str, object]:
        pf = tmp_path / f"{name}.pid"
        alive = f"test -e /proc/$(cat {pf}) && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$(cat {pf})/stat"
        return {"commands": {"kill": f"kill -KILL $(cat {pf})", "alive": alive,
                             "pause": f"kill -STOP $(cat {pf})", "resume": f"kill -CONT $(cat {pf})",
                             "start": f"sleep 60 >/dev/null 2>&1 & echo $! > {pf}"}}  # fmt: skip

    target = Target.model_validate({
        "name": "heal-unit",
        "services": {"w1": {"role": "worker", "handle": handle("w1")}, "w2": {"role": "worker", "handle": handle("w2")}},
        "trigger": {"create": {"path": "/b"}}, "observe": {"batch": {"path": "/b/{batch_id}"}},
    })  # fmt: skip
    journal = Journal(tmp_path / "journal.json")
    journal.add("paused", service="w1")
    journal.add("killed", service="w2")
    try:
        assert heal_target(target, journal, say=lambda _: None) == []
        assert _state(paused.pid) in ("S", "R")  # resumed
        started = int((tmp_path / "w2.pid").read_text())
        assert _state(started) in ("S", "R")  # started again through its handle
        assert not journal.path.exists()
    finally:
        paused.kill()
        paused.wait()
        subprocess.run(["sh", "-c", f"kill -9 $(cat {tmp_path / 'w2.pid'})"], check=False)


def test_memory_kb_reads_the_real_process_through_the_users_command(
    sleeper: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, pidfile = sleeper

    def rss_kb() -> int:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])

    handle = CommandHandle("worker-1", _commands(pidfile, memory_kb=f"ps -o rss= -p $(cat {pidfile})"))
    before = rss_kb()
    got = handle.memory_kb()
    after = rss_kb()  # a process still starting up grows between two readings: bracket the command's
    slack = max(64, max(before, after) // 10)
    assert got is not None and min(before, after) - slack <= got <= max(before, after) + slack


def test_memory_kb_is_none_without_the_verb_or_a_number(
    sleeper: tuple[subprocess.Popen[bytes], Path],
) -> None:
    _, pidfile = sleeper
    assert CommandHandle("w", _commands(pidfile)).memory_kb() is None
    assert CommandHandle("w", _commands(pidfile, memory_kb="echo no number")).memory_kb() is None
    assert CommandHandle("w", _commands(pidfile, memory_kb="exit 3")).memory_kb() is None
    assert CommandHandle("w", _commands(pidfile, memory_kb="echo '  2048 kB'")).memory_kb() == 2048
