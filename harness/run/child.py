"""The pytest child process of ``chaos-audit run``: launch, follow its progress, stop it on Ctrl-C.

Scenarios run in a separate ``python -m pytest`` so the audit machinery (PostgreSQL, the proxy,
services) lives and dies with that process, and this one only reports. The child gets its own
session: a terminal's Ctrl-C reaches only us, and we decide how to stop it: SIGINT to its group
first (pytest raises KeyboardInterrupt, so every scenario's ``finally`` heals its faults and stops
its stack), then SIGKILL after a grace period or a second Ctrl-C (what it leaves is reaped
through the pid files at once). The child's output goes to ``pytest.log``; progress arrives as JSON lines in
``progress.jsonl`` (written by the plugin), read while the child runs.

The child dies with this process, even when this one is SIGKILLed (a CI timeout) and cannot stop
it: the kernel sends it SIGINT when we die (``die_with_parent``, Linux), and it watches a lifeline
pipe (``--chaos-parent-fd``, :mod:`harness.run.watchdog`) that reads EOF when we are gone, so it
heals, stops its stack and exits, or is killed after a grace period. Its services are bound to the
child the same way, and the child is recorded in the pid files so the next run reaps it if it
somehow survives.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from harness.process.lifeline import Lifeline, die_with_parent
from harness.process.pidfiles import PidFiles
from harness.process.signals import shield_interrupts
from harness.run.plan import RunPlan

STOP_GRACE_S = 30.0
SCENARIO_TIMEOUT_S = 600
POLL_S = 0.1
#: environment variables that would change which plugins or options the child pytest uses
_SCRUBBED_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")


@dataclass(frozen=True, kw_only=True)
class ChildOutcome:
    """How the child ended: its exit code (None if it never started) and whether we interrupted it."""

    returncode: int | None
    interrupted: bool
    killed: bool = False


def pytest_argv(plan: RunPlan, progress: Path, parent_fd: int | None = None) -> list[str]:
    """The child's command line: the installed scenarios with our options, isolated from any ini file."""
    d = plan.report_dir
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(plan.scenarios_dir),
        "-p",
        "no:cacheprovider",
        "-c",
        os.devnull,
        "--rootdir",
        str(plan.scenarios_dir),
        "--confcutdir",
        str(plan.scenarios_dir),
        "-ra",
        "--color=no",
        # A scenario that hangs despite its own bounds is a harness bug, but must not hang the gate:
        # pytest-timeout interrupts it (its finally blocks still heal) and it is reported as failed.
        "--timeout",
        str(SCENARIO_TIMEOUT_S),
        "--continue-on-collection-errors",
        "--chaos-report-dir",
        str(d),
        "--chaos-progress",
        str(progress),
        "--chaos-seed",
        str(plan.seed),
        "--chaos-backend",
        plan.backend,
    ]
    if importlib.util.find_spec("allure_pytest") is not None:
        argv += ["--alluredir", str(d / "allure-results"), "--clean-alluredir"]
    if plan.target_file:
        argv += ["--chaos-target", plan.target_file]
    if plan.only:
        argv += ["--chaos-only", ",".join(plan.only)]
    if plan.defects:
        argv += ["--chaos-defect", ",".join(plan.defects)]
    if parent_fd is not None:
        argv += ["--chaos-parent-fd", str(parent_fd)]
    return argv


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class ProgressTail:
    """Reads complete JSON lines appended to the progress file since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        events = []
        for line in complete.decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A CI cancellation (SIGTERM) stops the audit like Ctrl-C does, so faults are still healed."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_child(plan: RunPlan, on_event: Callable[[dict[str, Any]], None]) -> ChildOutcome:
    """Run the scenarios; returns when the child has exited (interrupted or not).

    The child is bound to this process (module docstring): its pid is recorded so that the next
    run reaps it if it outlives us, and whatever it leaves behind is reaped as soon as it ends.
    """
    progress = plan.report_dir / "progress.jsonl"
    progress.unlink(missing_ok=True)  # events of an earlier run in the same folder are not this run's
    tail = ProgressTail(progress)
    pidfiles = PidFiles.default()
    proc: subprocess.Popen[bytes] | None = None
    key: str | None = None
    interrupted = killed = False
    with open(plan.report_dir / "pytest.log", "wb") as log, sigterm_as_interrupt(), Lifeline() as lifeline:
        try:
            with shield_interrupts():  # a Ctrl-C between Popen and the record would leak an unrecorded child
                proc = subprocess.Popen(
                    pytest_argv(plan, progress, lifeline.child_fd),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=child_env(),
                    cwd=plan.report_dir,
                    start_new_session=True,
                    pass_fds=(lifeline.child_fd,),
                    preexec_fn=die_with_parent(signal.SIGINT),  # our death is the child's Ctrl-C
                )
                key = pidfiles.record("pytest-child", pid=proc.pid)
                lifeline.child_started()
            while proc.poll() is None:
                for event in tail.read():
                    on_event(event)
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            interrupted = True
            on_event({"event": "interrupt"})
            if proc is not None:
                killed = stop_child(proc)
    for event in tail.read():
        on_event(event)
    if key is not None:
        pidfiles.forget(key)
    pidfiles.reap_stale()  # what a killed child could not stop (its owner is gone now)
    returncode = proc.returncode if proc is not None else None
    return ChildOutcome(returncode=returncode, interrupted=interrupted, killed=killed)


def stop_child(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE_S) -> bool:
    """SIGINT the child's group and wait for it to heal and exit; SIGKILL on timeout or a second Ctrl-C.

    Returns True when it had to be killed.
    """
    _signal_group(proc, signal.SIGINT)
    try:
        proc.wait(timeout=grace)
        return False
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
        return True


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
