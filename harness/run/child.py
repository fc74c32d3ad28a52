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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from harness.process.lifeline import Lifeline, die_with_parent
from harness.process.pidfiles import PidFiles
from harness.process.signals import shield_interrupts
from harness.run.plan import RunPlan, modules_of

STOP_GRACE_S = 30.0
SCENARIO_TIMEOUT_S = 600
POLL_S = 0.1
#: environment variables that would change which plugins or options the child pytest uses
_SCRUBBED_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")
#: the only plugins the child loads (module names; ``allure_pytest.plugin`` too where installed)
CHILD_PLUGINS = ("harness.plugin", "pytest_timeout")


@dataclass(frozen=True, kw_only=True)
class ChildOutcome:
    """How the child ended: its exit code (None if it never started) and whether we interrupted it."""

    returncode: int | None
    interrupted: bool
    killed: bool = False


def pytest_argv(
    plan: RunPlan, progress: Path, parent_fd: int | None = None, *, clean_allure: bool = True
) -> list[str]:
    """The child's command line: the installed scenarios with our options, isolated from any ini file
    and from the pytest plugins installed beside us (``child_env`` turns their autoloading off).

    Only the plugins the scenarios need are loaded: a user's plugin must not change an audit, and
    loading unrelated ones (hypothesis, anyio, respx, ... in a dev install) cost each child about
    0.7 s of CPU, dozens of times per matrix. Asserts stay plain: scenarios decide through checks,
    and rewriting their modules at every start (no bytecode cache where PYTHONDONTWRITEBYTECODE is
    set) cost each child another ~0.9 s.

    ``clean_allure=False`` for the workers of a parallel run, which share the Allure folder (the
    command cleared it before starting them).
    """
    d = plan.report_dir
    argv = [
        sys.executable,
        "-m",
        "pytest",
        *_collected(plan),
        *(arg for name in _child_plugins() for arg in ("-p", name)),
        "-p",
        "no:cacheprovider",
        "--assert=plain",
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
    if "allure_pytest.plugin" in _child_plugins():
        argv += ["--alluredir", str(d / "allure-results")] + (["--clean-alluredir"] if clean_allure else [])
    if plan.target_file:
        argv += ["--chaos-target", plan.target_file]
    if plan.only:
        argv += ["--chaos-only", ",".join(plan.only)]
    if plan.defects:
        argv += ["--chaos-defect", ",".join(plan.defects)]
    if parent_fd is not None:
        argv += ["--chaos-parent-fd", str(parent_fd)]
    return argv


def _collected(plan: RunPlan) -> list[str]:
    """What the child collects: the modules of the scenarios it runs, else the whole folder."""
    modules = modules_of(plan.scenarios_dir, plan.only) if plan.only else None
    return [str(m) for m in modules] if modules else [str(plan.scenarios_dir)]


def _child_plugins() -> tuple[str, ...]:
    allure = ("allure_pytest.plugin",) if importlib.util.find_spec("allure_pytest") is not None else ()
    return (*CHILD_PLUGINS, *allure)


def child_env() -> dict[str, str]:
    """Our environment without what would change the child's plugins or options; plugins are not
    autoloaded (``pytest_argv`` names the ones it needs)."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
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


class Child:
    """One pytest child, bound to this process (module docstring) and followed through its progress file.

    ``argv_of(fd)`` builds the command line given the lifeline's fd. :meth:`start` launches it,
    :meth:`events` reads its new progress events, :meth:`poll` says whether it ended; leave the
    ``with`` block only once it has exited (closing cuts its lifeline, which stops it).
    """

    def __init__(
        self,
        argv_of: Callable[[int], list[str]],
        *,
        log_path: Path,
        cwd: Path,
        progress: Path,
        pass_fds: Sequence[int] = (),
        name: str = "pytest-child",
    ) -> None:
        self.name = name
        self.progress = progress
        self._argv_of = argv_of
        self._log_path = log_path
        self._cwd = cwd
        self._pass_fds = tuple(pass_fds)
        self._tail = ProgressTail(progress)
        self._pidfiles = PidFiles.default()
        self._lifeline = Lifeline()
        self._key: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Launch it (a Ctrl-C meanwhile is deferred: a child that is not recorded would leak)."""
        with open(self._log_path, "wb") as log, shield_interrupts():
            self.proc = subprocess.Popen(
                self._argv_of(self._lifeline.child_fd),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(),
                cwd=self._cwd,
                start_new_session=True,
                pass_fds=(self._lifeline.child_fd, *self._pass_fds),
                preexec_fn=die_with_parent(signal.SIGINT),  # our death is the child's Ctrl-C
            )
            self._key = self._pidfiles.record(self.name, pid=self.proc.pid)
            self._lifeline.child_started()

    def events(self) -> list[dict[str, Any]]:
        return self._tail.read()

    def poll(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    def close(self) -> None:
        """Cut the lifeline and drop the pid record (call once it has exited)."""
        self._lifeline.close()
        if self._key is not None:
            self._pidfiles.forget(self._key)
            self._key = None

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_child(plan: RunPlan, on_event: Callable[[dict[str, Any]], None]) -> ChildOutcome:
    """Run the scenarios; returns when the child has exited (interrupted or not).

    The child is bound to this process (module docstring): its pid is recorded so that the next
    run reaps it if it outlives us, and whatever it leaves behind is reaped as soon as it ends.
    """
    progress = plan.report_dir / "progress.jsonl"
    progress.unlink(missing_ok=True)  # events of an earlier run in the same folder are not this run's
    interrupted = killed = False
    child = Child(
        lambda fd: pytest_argv(plan, progress, fd),
        log_path=plan.report_dir / "pytest.log",
        cwd=plan.report_dir,
        progress=progress,
    )
    with sigterm_as_interrupt(), child:
        try:
            child.start()
            while child.poll() is None:
                for event in child.events():
                    on_event(event)
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            interrupted = True
            on_event({"event": "interrupt"})
            killed = stop_children([child])
        for event in child.events():
            on_event(event)
    PidFiles.default().reap_stale()  # what a killed child could not stop (its owner is gone now)
    return ChildOutcome(returncode=child.returncode, interrupted=interrupted, killed=killed)


def stop_children(children: Sequence[Child], grace: float = STOP_GRACE_S) -> bool:
    """SIGINT each child's group and wait for them to heal and exit; SIGKILL on timeout or a second
    Ctrl-C. Returns True when one had to be killed."""
    procs = [c.proc for c in children if c.proc is not None]
    for proc in procs:
        _signal_group(proc, signal.SIGINT)
    deadline = time.monotonic() + grace
    killed = False
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            for other in procs:
                if other.poll() is None:
                    _signal_group(other, signal.SIGKILL)
                    killed = True
            for other in procs:
                other.wait()
            break
    return killed


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
