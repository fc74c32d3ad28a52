"""CPU seconds of everything a run starts, summed by kind of process (Linux ``/proc``).

Why: on a 2-core runner a parallel audit is bound by CPU, not by waiting, once about three stacks
share the cores. The sum of the CPU the run's processes burn, divided by the cores, is a floor for
its wall time that no scheduling can beat; this says how high that floor is and which processes
raise it (the target's API and workers starting per scenario, the harness, PostgreSQL...).

Sampled every 50 ms, so a process that lives less than that is missed and each process's last
50 ms may be; processes already running when sampling starts count from then on only.
"""

from __future__ import annotations

import collections
import os
import threading
from pathlib import Path
from types import TracebackType

#: command-line fragment -> kind (first match wins; the harness's pytest child names its plugins)
KINDS = (
    ("reftarget.api", "target API"),
    ("reftarget.worker", "target worker"),
    ("rqtarget", "rq target"),
    ("postgres", "PostgreSQL"),
    ("harness.cli proxy", "fault proxy"),
    ("harness.cli provider", "mock provider"),
    ("locust", "locust"),
    ("chromium", "browser"),
    ("pytest", "harness (pytest)"),
    ("harness.cli", "harness (command)"),
)


def kind_of(cmdline: str) -> str:
    return next((kind for fragment, kind in KINDS if fragment in cmdline), "other")


class CpuByKind:
    """``with CpuByKind() as cpu: ...`` then ``cpu.table()``: CPU seconds per kind of process."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self._tick = os.sysconf("SC_CLK_TCK")
        self._seen: dict[tuple[str, str], list] = {}  # (pid, start time) -> [kind, base, last]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._me = str(os.getpid())

    def __enter__(self) -> CpuByKind:
        self._sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(first=False)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample(first=False)

    def _sample(self, *, first: bool) -> None:
        for entry in Path("/proc").iterdir():
            pid = entry.name
            if not pid.isdigit() or pid == self._me:
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cpu = (int(fields[11]) + int(fields[12])) / self._tick
                key = (pid, fields[19])
                if key not in self._seen:
                    cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    if not cmdline:
                        continue  # kernel threads
                    self._seen[key] = [kind_of(cmdline), cpu if first else 0.0, cpu]
                self._seen[key][2] = cpu
            except (OSError, IndexError, ValueError):
                continue  # gone between listing and reading

    def totals(self) -> dict[str, tuple[float, int]]:
        """Kind -> (CPU seconds, processes)."""
        seconds: collections.Counter[str] = collections.Counter()
        count: collections.Counter[str] = collections.Counter()
        for kind, base, last in self._seen.values():
            if last - base > 0:
                seconds[kind] += last - base
                count[kind] += 1
        return {k: (seconds[k], count[k]) for k in sorted(seconds, key=lambda k: -seconds[k])}

    def table(self, wall_s: float) -> str:
        rows = self.totals()
        total = sum(s for s, _ in rows.values())
        cores = len(os.sched_getaffinity(0))
        lines = [f"{'process kind':<20} {'CPU s':>7} {'procs':>6} {'s/proc':>7}"]
        lines += [f"{k:<20} {s:>7.1f} {n:>6} {s / n:>7.2f}" for k, (s, n) in rows.items()]
        lines.append(
            f"total CPU {total:.1f} s in {wall_s:.1f} s wall ({total / max(wall_s, 1e-9):.2f} cores busy); "
            f"floor for any schedule on {cores} cores: {total / cores:.1f} s"
        )
        return "\n".join(lines)
