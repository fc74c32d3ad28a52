"""Pid files: what a run started, so that the next run can reap it if this one was killed.

A harness that is SIGKILLed cannot run its ``finally`` blocks, so every process it starts (and
every temp dir it creates) is recorded in a small JSON file under the state dir, together with the
identity of the harness process that owns it. ``reap_stale()`` (called at the start of every run)
kills the process groups and removes the temp dirs whose owner is gone, following owner chains (a
dead run command's pytest child, then the services that child started). A process is identified
by ``(pid, start time)`` so a reused pid is never killed by mistake.

Only a dead owner's records are touched: the workers of a parallel run (``--jobs``), the rows of a
parallel matrix and any other audit of the same user share this registry, and each reaps only
what a dead one left, never a live sibling's processes or folders.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_DIR_ENV = "CHAOS_AUDIT_STATE_DIR"
#: owner chains are short (run command -> pytest child -> services); the bound only guards a loop
_MAX_REAP_PASSES = 8
_PATH_KEYS = itertools.count(1)


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie is as good as gone for our purposes
        return None
    return int(fields[19])


def is_same_process(pid: int, start_time: int | None) -> bool:
    """True if ``pid`` is alive and is the process that was recorded (not a reused pid)."""
    return start_time is not None and process_start_time(pid) == start_time


def wait_gone(pid: int, start_time: int | None, timeout: float = 5.0) -> None:
    """Wait until a killed process is dead (zombie or reaped), so its ports and files are free."""
    deadline = time.monotonic() + timeout
    while is_same_process(pid, start_time) and time.monotonic() < deadline:
        time.sleep(0.01)


@dataclass(frozen=True, kw_only=True)
class PidRecord:
    """One thing a harness run owns: a process (group) and/or paths to remove."""

    owner_pid: int
    owner_start: int | None
    name: str
    pid: int | None = None
    pid_start: int | None = None
    process_group: bool = True
    cleanup_paths: tuple[str, ...] = field(default_factory=tuple)


class PidFiles:
    """The registry of processes and temp dirs owned by live harness runs."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._owner_pid = os.getpid()
        self._owner_start = process_start_time(self._owner_pid)

    @classmethod
    def default(cls) -> PidFiles:
        """The registry in ``$CHAOS_AUDIT_STATE_DIR`` or a per-user dir under the temp dir."""
        env = os.environ.get(STATE_DIR_ENV)
        base = Path(env) if env else Path(tempfile.gettempdir()) / f"chaos-audit-state-{os.getuid()}"
        return cls(base / "pids")

    def _path(self, key: str) -> Path:
        return self.state_dir / f"{self._owner_pid}-{key}.json"

    def record(
        self,
        name: str,
        *,
        pid: int | None = None,
        process_group: bool = True,
        cleanup_paths: Iterable[Path | str] = (),
    ) -> str:
        """Record a process and/or paths owned by this harness process; returns the record key.

        Keys are unique within the process (a pid, or a counter for paths), so two stacks of one
        process never overwrite each other's records.
        """
        key = f"{name}-{pid}" if pid is not None else f"{name}-paths-{next(_PATH_KEYS)}"
        rec = PidRecord(
            owner_pid=self._owner_pid,
            owner_start=self._owner_start,
            name=name,
            pid=pid,
            pid_start=process_start_time(pid) if pid is not None else None,
            process_group=process_group,
            cleanup_paths=tuple(str(p) for p in cleanup_paths),
        )
        tmp = self._path(key).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(rec)))
        tmp.replace(self._path(key))
        return key

    def forget(self, key: str) -> None:
        """Drop a record once its process was reaped and its paths removed by their owner."""
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def reap_stale(self) -> list[str]:
        """Kill and clean everything recorded by harness processes that no longer exist.

        Repeated until a pass finds nothing: a dead run's records include its pytest child, which
        may still be alive and owns the records of the services it started; once the child is
        reaped, its own records are stale in the next pass. Returns one human-readable line per
        reaped record (for the run log).
        """
        reaped: list[str] = []
        for _ in range(_MAX_REAP_PASSES):
            found = [
                (path, rec)
                for path, rec in self._records()
                if not is_same_process(rec.owner_pid, rec.owner_start)  # a live owner's: not ours to touch
            ]
            if not found:
                break
            for path, rec in found:
                reaped.append(self._reap(rec))
                path.unlink(missing_ok=True)
        return reaped

    def reap_own(self) -> list[str]:
        """Kill and clean everything this process recorded (a last resort when its own clean-up is stuck)."""
        reaped: list[str] = []
        for path, rec in self._records():
            if rec.owner_pid == self._owner_pid and rec.owner_start == self._owner_start:
                reaped.append(self._reap(rec, owner="this run"))
                path.unlink(missing_ok=True)
        return reaped

    def _records(self) -> list[tuple[Path, PidRecord]]:
        """Every readable record (an unreadable one, e.g. half-written by a killed run, is dropped)."""
        records: list[tuple[Path, PidRecord]] = []
        for path in sorted(self.state_dir.glob("*.json")):
            try:
                records.append((path, PidRecord(**json.loads(path.read_text()))))
            except FileNotFoundError:
                continue  # reaped meanwhile by a concurrent run
            except (OSError, ValueError, TypeError):
                path.unlink(missing_ok=True)
        return records

    @staticmethod
    def _reap(rec: PidRecord, *, owner: str = "") -> str:
        killed = False
        if rec.pid is not None and is_same_process(rec.pid, rec.pid_start):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if rec.process_group:
                    os.killpg(rec.pid, signal.SIGKILL)
                else:
                    os.kill(rec.pid, signal.SIGKILL)
                killed = True
            wait_gone(rec.pid, rec.pid_start)
        for p in rec.cleanup_paths:
            shutil.rmtree(p, ignore_errors=True)
        what = f"killed pid {rec.pid}" if killed else "process already gone"
        return (
            f"reaped {rec.name} of {owner or f'dead run {rec.owner_pid}'}: {what}, "
            f"removed {len(rec.cleanup_paths)} path(s)"
        )
