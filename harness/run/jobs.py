"""How many scenarios run side by side (``--jobs`` of ``chaos-audit run`` and ``chaos-audit matrix``).

Each parallel scenario gets a stack of its own (its own PostgreSQL, proxy, provider, services,
temp dirs and pid records: one pytest worker each), so on the local backend they cannot see each
other. The default follows the machine and the scenarios: the cores idle now (of those this
process may use) divided by the average ``weight`` of the selected scenarios (the share of a core
each keeps busy, from the catalogue), at most :data:`MAX_DEFAULT_JOBS`; ``alone`` scenarios do not
count, they run by themselves anyway. Idle, not merely present: the scenarios' deadlines are real
seconds, so on a runner already busy with something else (a CI job running tests beside the
audit, a core kept busy) the default shrinks, down to one scenario at a time, rather than
starving every stack. ``--jobs N`` overrides it.

Where the harness does not own the stack, parallel scenarios would share it and interfere (one
scenario's partition or outage would land in another's measurements), so there the default is 1
and an explicit ``--jobs`` above 1 is refused (exit 2): the external backend, and the docker
backend's compose mode (containers someone else started).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from pathlib import Path

from harness import catalog
from harness.errors import ConfigError
from harness.target.model import Target

#: more workers than this only adds start-up cost and memory on the machines the audit targets
MAX_DEFAULT_JOBS = 4


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity, e.g. under ``taskset`` or a CI quota)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def idle_cores(sample_s: float = 0.2) -> float:
    """Cores idle right now, of those this process may use: ``/proc/stat`` over a short sample.

    Instantaneous on purpose: the load average lags by a minute, so a busy loop started just
    before the audit would not show in it. Where ``/proc/stat`` is missing, every usable core.
    """
    usable = usable_cores()
    first = _cpu_times()
    time.sleep(sample_s)
    second = _cpu_times()
    if first is None or second is None or second[1] <= first[1]:
        return float(usable)
    idle_share = (second[0] - first[0]) / (second[1] - first[1])
    return min(float(usable), idle_share * (os.cpu_count() or usable))


def _cpu_times() -> tuple[int, int] | None:
    """(idle + iowait, total) jiffies of all CPUs."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    return fields[3] + fields[4], sum(fields)


def default_jobs(ids: Iterable[str], *, cores: float | None = None) -> int:
    """Side-by-side scenarios for these ids on ``cores`` cores (default: those idle now, counted
    whole: a little background noise on an idle machine must not cost a job)."""
    cores = round(idle_cores()) if cores is None else cores
    entries = [catalog.entry(i) for i in ids]
    weights = [e.weight if e else catalog.DEFAULT_WEIGHT for e in entries if not (e and e.alone)]
    if not weights:
        return 1
    fit = math.floor(max(1.0, cores) / (sum(weights) / len(weights)))
    return max(1, min(fit, MAX_DEFAULT_JOBS, len(weights)))


def shared_stack(backend: str, target: Target) -> str | None:
    """Why the stack is shared with the world (parallel scenarios would interfere), or None."""
    from harness.stack.backends import get_backend
    from harness.stack.compose import is_compose_target

    if not get_backend(backend).starts_services:
        return f"the {backend} backend audits a running stack the harness does not own"
    if is_compose_target(target):
        return f"the {backend} backend's compose mode audits containers the harness did not start"
    return None


def resolve_jobs(requested: int | None, *, backend: str, target: Target, ids: Iterable[str]) -> int:
    """The number of workers for a run of ``ids``; raises ConfigError naming ``--jobs`` (exit 2)
    when refused. 1 means the serial run."""
    if requested is not None and requested < 1:
        raise ConfigError(f"--jobs: must be 1 or more (got {requested})", field="--jobs")
    shared = shared_stack(backend, target)
    if shared is not None:
        if requested is not None and requested > 1:
            raise ConfigError(
                f"--jobs {requested}: {shared}, so scenarios side by side would interfere "
                "(one's faults in another's measurements); run them one at a time (--jobs 1)",
                field="--jobs",
            )
        return 1
    ids = list(ids)
    jobs = requested if requested is not None else default_jobs(ids) if backend == "local" else 1
    # no more workers than scenarios to share the machine (alone ones run on one kept at the end)
    sharing = [i for i in ids if not ((e := catalog.entry(i)) is not None and e.alone)]
    return max(1, min(jobs, len(sharing)))
