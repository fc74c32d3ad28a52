"""One managed OS process, one *service* of a local stack: start, wait ready, kill, pause, stop, restart.

The harness is the parent (``Popen`` + ``wait``): a killed service is reaped at once, so its port
is free for a restart without waiting for PID 1. Each service runs in its own
session and process group, so a terminal's Ctrl-C does not reach it (the harness stops it in
order) and a kill takes its children along, as a machine crash would. Every running process is
recorded in :class:`PidFiles` so a harness that is itself SIGKILLed leaves nothing the next run
does not reap; the record is forgotten as soon as the process is reaped. A service started from
the main thread is also SIGKILLed by the kernel when the harness dies (``die_with_parent``), so it
does not even wait for the next run.

Processes that leave the group on purpose (``setsid``, as PostgreSQL backends do) are not covered
by the group signals; such services need their own handling (see ``harness.store.postgres``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from harness.errors import ServiceError
from harness.process.lifeline import die_with_parent
from harness.process.logs import log_size, log_tail, read_log
from harness.process.pidfiles import PidFiles, process_start_time
from harness.process.readiness import (
    DEFAULT_INTERVAL_S,
    DEFAULT_TIMEOUT_S,
    ReadinessContext,
    WaitStrategy,
    wait_until,
)
from harness.process.signals import shield_interrupts

STOP_TIMEOUT_S = 5.0
#: How long a signalled group may take to be gone (SIGKILL) or stopped (SIGSTOP) before we give up.
SETTLE_TIMEOUT_S = 5.0


def process_group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids whose process group is ``pgid``, read from /proc."""
    members: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2]


def _signal_pids(pids: Sequence[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class ProcessService:
    """A local process the harness owns; safe to drive from a fault thread and the test thread at once.

    ``env`` is added to the harness's environment (``inherit_env=False`` uses it alone), with
    ``PYTHONUNBUFFERED=1`` unless set, so a Python service's last lines reach the log before a kill.
    stdout and stderr are appended to ``log_path``; a restart keeps the earlier runs' output.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path | str,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        readiness: WaitStrategy | None = None,
        inherit_env: bool = True,
        pidfiles: PidFiles | None = None,
    ) -> None:
        if not argv:
            raise ValueError(f"service {name!r}: argv is empty")
        self.name = name
        self.argv = tuple(argv)
        self.cwd = Path(cwd) if cwd is not None else None
        self.readiness = readiness
        self._log_path = Path(log_path)
        self._env = {**(os.environ if inherit_env else {}), "PYTHONUNBUFFERED": "1", **(env or {})}
        self._pidfiles = pidfiles or PidFiles.default()
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid_key: str | None = None
        self._paused = False
        self._run_log_offset = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the process (no-op if it is running); does not wait: see :meth:`wait_ready`."""
        with self._lock:
            if self._alive():
                return
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            # Shielded: a Ctrl-C between Popen and the pid record would leak an unrecorded process.
            with shield_interrupts(), open(self._log_path, "ab") as log:
                self._run_log_offset = log.tell()
                try:
                    proc = subprocess.Popen(
                        self.argv,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=self.cwd,
                        env=self._env,
                        start_new_session=True,
                        preexec_fn=die_with_parent(),
                    )
                except OSError as exc:
                    raise ServiceError(
                        f"{self.name}: could not start {self.argv[0]!r}: {exc}; "
                        f"hint: check the command and the working directory ({self.cwd or os.getcwd()})"
                    ) from exc
                self._proc, self._paused = proc, False
                self._pid_key = self._pidfiles.record(self.name, pid=proc.pid)

    def wait_ready(self, timeout: float = DEFAULT_TIMEOUT_S, interval: float = DEFAULT_INTERVAL_S) -> float:
        """Poll the readiness strategy; fail fast if the process exits. Returns the seconds waited."""
        if self._proc is None:
            raise ServiceError(f"{self.name} was never started; hint: call start() before wait_ready()")
        return wait_until(
            self.readiness or _Alive(),
            timeout,
            interval,
            name=self.name,
            context=self._readiness_context(),
            exited=lambda: None if self.running else self.returncode,
        )

    def kill(self) -> None:
        """SIGKILL the whole group (a crash: nothing more runs, even if paused); return once it is gone."""
        with self._lock, shield_interrupts():
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                self._signal_group(signal.SIGKILL)
                self._signal_group(signal.SIGCONT)
                proc.wait()
            self._finish_group(proc.pid, time.monotonic())
            self._after_exit()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the group (after SIGCONT, so a paused one can act on it), SIGKILL after ``timeout``."""
        with self._lock, shield_interrupts():
            proc = self._proc
            if proc is None:
                return
            deadline = time.monotonic() + timeout
            if proc.poll() is None:
                self._signal_group(signal.SIGCONT)
                self._signal_group(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    proc.wait()
            self._finish_group(proc.pid, deadline)
            self._after_exit()

    def pause(self) -> None:
        """SIGSTOP the whole group and wait until it is stopped: it hangs, its connections stay open."""
        with self._lock:
            if not self._alive():
                raise ServiceError(f"{self.name} is not running: cannot pause it")
            assert self._proc is not None
            self._signal_group(signal.SIGSTOP)
            self._paused = True
            deadline = time.monotonic() + SETTLE_TIMEOUT_S
            while time.monotonic() < deadline:
                if all(_state(p) in ("T", "t", None) for p in process_group_members(self._proc.pid)):
                    return
                time.sleep(0.002)

    def resume(self) -> None:
        """SIGCONT the group after :meth:`pause`; a no-op if it is not running (a heal never fails)."""
        with self._lock:
            if self._alive():
                self._signal_group(signal.SIGCONT)
            self._paused = False

    def restart(self, *, kill: bool = False, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop (or kill) then start again, appending to the same log; does not wait for readiness."""
        with self._lock:
            if kill:
                self.kill()
            else:
                self.stop(timeout)
            self.start()

    # -- state -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the process exists (paused counts as running)."""
        proc = self._proc
        if proc is None:
            return False
        if proc.poll() is None:
            return True
        if self._pid_key is not None and self._lock.acquire(blocking=False):
            try:
                self._after_exit()  # it exited by itself and poll() reaped it
            finally:
                self._lock.release()
        return False

    @property
    def pid(self) -> int | None:
        """The pid (and process group id) of the running process, None when not running."""
        proc = self._proc
        return proc.pid if proc is not None and self.running else None

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume` (or the end of the process)."""
        return self._paused

    @property
    def returncode(self) -> int | None:
        """Exit code of the last run (negative: killed by that signal); None while running or never run."""
        proc = self._proc
        return proc.poll() if proc is not None else None

    # -- log -------------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        """The file that receives stdout and stderr of every run of this service."""
        return self._log_path

    @property
    def run_log_offset(self) -> int:
        """Byte offset in the log where the current (or last) run's output begins."""
        return self._run_log_offset

    def log_offset(self) -> int:
        """The log's current end: pass it to :meth:`read_log` later to get only what came after."""
        return log_size(self._log_path)

    def read_log(self, since_offset: int = 0) -> str:
        """The log's text from ``since_offset`` (0: every run; ``run_log_offset``: this run)."""
        return read_log(self._log_path, since_offset)

    def log_tail(self, lines: int = 20) -> list[str]:
        """The last lines of the current run's output."""
        return log_tail(self._log_path, since_offset=self._run_log_offset, lines=lines)

    # -- internals -------------------------------------------------------------------------
    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _readiness_context(self) -> ReadinessContext:
        return ReadinessContext(log_path=self._log_path, log_offset=self._run_log_offset)

    def _signal_group(self, sig: signal.Signals) -> None:
        # Only while the leader is unreaped: its pid (our pgid) cannot have been reused.
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)

    def _finish_group(self, pgid: int, deadline: float) -> None:
        """After the leader exited: give the rest of the group until ``deadline``, then SIGKILL it."""
        members = process_group_members(pgid)
        while members and time.monotonic() < deadline:
            time.sleep(0.005)
            members = process_group_members(pgid)
        if not members:
            return
        started = {pid: process_start_time(pid) for pid in members}
        _signal_pids(members, signal.SIGKILL)
        _signal_pids(members, signal.SIGCONT)
        settle = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < settle and any(
            process_start_time(pid) == start for pid, start in started.items() if start is not None
        ):
            time.sleep(0.005)

    def _after_exit(self) -> None:
        self._paused = False
        if self._pid_key is not None:
            self._pidfiles.forget(self._pid_key)
            self._pid_key = None

    def __enter__(self) -> ProcessService:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.resume()
        self.stop()

    def __repr__(self) -> str:
        state = "paused" if self._paused else "running" if self.running else "stopped"
        return f"ProcessService({self.name!r}, pid={self.pid}, {state})"


class _Alive:
    """The implicit strategy of a service without one: it only has to stay alive."""

    def describe(self) -> str:
        return "the process to stay alive"

    def check(self, context: ReadinessContext) -> str | None:
        return None
