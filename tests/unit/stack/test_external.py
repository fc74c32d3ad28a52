"""The external backend's promises, on a fake proxy and provider and real command handles."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from harness.cli import main as cli_main
from harness.errors import CapabilityMissing, Undecidable
from harness.stack.external import ExternalStack
from harness.stack.journal import Journal
from harness.stack.safety import HealthWatcher
from harness.target.load import load_target


class FakeProxy:
    def __init__(self) -> None:
        self.toxic_names: dict[str, list[str]] = {}

    def populate(self, specs: list[dict[str, str]]) -> None:
        for spec in specs:
            self.toxic_names.setdefault(spec["name"], [])

    def proxies(self) -> dict[str, object]:
        return dict(self.toxic_names)

    def toxics(self, name: str) -> list[Any]:
        return [SimpleNamespace(name=t) for t in self.toxic_names[name]]

    def remove_toxic(self, name: str, toxic: str) -> None:
        self.toxic_names[name].remove(toxic)

    def enable(self, name: str) -> None: ...


class FakeProvider:
    base_url = "http://fake"

    def reset(self) -> None: ...


def _pid_alive(pidfile: Path) -> str:
    return f"test -e /proc/$(cat {pidfile}) && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$(cat {pidfile})/stat"


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """Two `sleep` processes standing for running workers, with pid files."""
    procs = {}
    for name in ("worker-1", "worker-2"):
        proc = subprocess.Popen(["sleep", "60"])
        (tmp_path / f"{name}.pid").write_text(str(proc.pid))
        procs[name] = proc
    yield {n: tmp_path / f"{n}.pid" for n in procs}
    for proc in procs.values():
        proc.kill()
        proc.wait()
    for pid in (tmp_path / "restarted").glob("*"):
        subprocess.run(["kill", "-9", pid.read_text()], check=False)


def _target(tmp_path: Path, pidfiles: dict[str, Path] | None, **extra: Any) -> Path:
    services: dict[str, Any] = {"api": {"role": "api", "url": "http://127.0.0.1:9"}}
    for name in ("worker-1", "worker-2"):
        svc: dict[str, Any] = {"role": "worker"}
        if pidfiles:
            pf = pidfiles[name]
            (tmp_path / "restarted").mkdir(exist_ok=True)
            svc["handle"] = {"commands": {
                "kill": f"kill -KILL $(cat {pf})",
                "alive": ["sh", "-c", _pid_alive(pf)],
                "start": f"sleep 60 >/dev/null 2>&1 & echo $! > {pf}; cp {pf} {tmp_path}/restarted/{name}",
            }}  # fmt: skip
        services[name] = svc
    doc = {
        "name": "ext-unit",
        "services": services,
        "trigger": {"create": {"method": "POST", "path": "/b"}},
        "observe": {"batch": {"path": "/b/{batch_id}"}},
        "database": {"kind": "external", "dsn": "postgresql://nobody@127.0.0.1:9/x"},
        "timing": {"provider_timeout_s": 1.0},
        **extra,
    }
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _stack(tmp_path: Path, path: Path) -> ExternalStack:
    target, _ = load_target(str(path))
    infra = SimpleNamespace(provider=FakeProvider(), proxy=FakeProxy(), journal=Journal(tmp_path / "j.json"),
                            work_dir=tmp_path)  # fmt: skip
    return ExternalStack(infra, target, guard=False)  # type: ignore[arg-type]


def test_a_timing_the_running_stack_does_not_have_is_unknown_not_ignored(tmp_path: Path) -> None:
    stack = _stack(tmp_path, _target(tmp_path, None))
    with pytest.raises(Undecidable, match=r"timing\.provider_timeout_s: the scenario needs 30"):
        stack.start(services=["worker-1"], timing={"provider_timeout_s": 30.0})
    assert stack.timing["provider_timeout_s"] == 1.0  # the file's value, never the scenario's wish


def test_one_worker_without_handles_for_the_others_is_unknown_naming_the_handle(tmp_path: Path) -> None:
    stack = _stack(tmp_path, _target(tmp_path, None))
    with pytest.raises(
        CapabilityMissing, match=r"services\.worker-2\.handle \(the scenario needs only worker-1"
    ):
        stack.start(services=["worker-1"], timing={"provider_timeout_s": 1.0})
    with pytest.raises(CapabilityMissing, match=r"services\.worker-1\.handle"):
        stack.process("worker-1")
    with pytest.raises(CapabilityMissing, match="role db"):
        stack.kill_db()


def test_workers_a_scenario_does_not_want_are_stopped_then_restored_at_teardown(
    tmp_path: Path, workers: dict[str, Path]
) -> None:
    stack = _stack(tmp_path, _target(tmp_path, workers))
    w2 = stack.handle("worker-2")
    assert w2 is not None and w2.running
    stack.start(services=["worker-1"])
    assert not w2.running  # "one worker" means one worker
    assert [e["service"] for e in stack.journal.entries("held")] == ["worker-2"]
    stack.start_service("worker-2")  # a scenario adding its second worker later gets it back
    assert w2.running and stack.journal.entries() == []
    stack.process("worker-1").kill()  # a fault of the scenario, never restarted by it
    assert stack.journal.entries("killed")
    stack.close()
    w1 = stack.handle("worker-1")
    assert w1 is not None and w1.running  # the stack is left as it was found
    assert stack.journal.entries() == []


class _Asked:
    """A probe that notes when the watcher asked it, so the test waits for the watcher's own looks
    (how long a thread takes to be scheduled on a busy machine is no part of the check)."""

    def __init__(self, answer: Callable[[], bool]) -> None:
        self.answer = answer
        self.times: list[float] = []

    def __call__(self) -> bool:
        self.times.append(time.monotonic())
        return self.answer()

    def spanned(self, seconds: float) -> bool:
        """True once the watcher has looked over at least ``seconds`` of its own time."""
        return len(self.times) >= 2 and self.times[-1] - self.times[0] >= seconds


def _until(what: str, done: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout  # only reached when it never happens
    while not done():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.01)


def test_the_watcher_aborts_only_when_unhealthy_outside_a_fault_window() -> None:
    aborted: list[str] = []
    in_fault = [True]
    asked = _Asked(lambda: in_fault[0])
    watcher = HealthWatcher(healthy=lambda: False, in_fault=asked, limit_s=0.3,
                            on_abort=aborted.append, interval=0.05)  # fmt: skip
    watcher.start()
    _until("the watcher looking over twice its limit", lambda: asked.spanned(0.6))
    assert aborted == []  # the audit's own fault: not a reason to stop
    in_fault[0] = False
    _until("the abort", lambda: bool(aborted))
    watcher.stop()
    assert aborted and "safety.abort_if_unhealthy_s = 0.3" in aborted[0]


def test_a_healthy_system_is_never_aborted() -> None:
    aborted: list[str] = []
    asked = _Asked(lambda: True)
    watcher = HealthWatcher(healthy=asked, in_fault=lambda: False, limit_s=0.1,
                            on_abort=aborted.append, interval=0.02)  # fmt: skip
    watcher.start()
    _until("the watcher looking over three times its limit", lambda: asked.spanned(0.3))
    watcher.stop()
    assert aborted == []


def test_run_refuses_an_environment_that_does_not_allow_faults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _target(tmp_path, None, safety={"environment": "staging-eu", "allow_faults": False})
    code = cli_main(
        ["run", "--target", str(path), "--backend", "external", "--report-dir", str(tmp_path / "r")]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert (
        "environment 'staging-eu'" in out
        and "no handle (process faults unknown): api, worker-1, worker-2" in out
    )
    assert "safety.allow_faults" in err
    assert not (tmp_path / "r" / "run.json").exists()  # nothing started


def test_defect_on_the_external_backend_is_bad_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _target(tmp_path, None, safety={"environment": "staging-eu", "allow_faults": True})
    code = cli_main(["run", "--target", str(path), "--backend", "external", "--defect", "no_fencing"])
    assert code == 2
    assert "--defect needs a stack the harness starts" in capsys.readouterr().err
    pytest_run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--co", str(tmp_path),
         "--chaos-backend", "external", "--chaos-target", str(path), "--chaos-defect", "no_fencing"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert pytest_run.returncode == 4, pytest_run.stdout + pytest_run.stderr
    assert "--chaos-defect needs a stack the harness starts" in pytest_run.stderr + pytest_run.stdout
