"""``--jobs``: a default from the cores and the scenarios' weight; refused where the stack is shared."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness import catalog
from harness.errors import ConfigError
from harness.run.command import configure
from harness.run.jobs import MAX_DEFAULT_JOBS, default_jobs, resolve_jobs
from harness.run.plan import build_plan
from harness.run.pool import worker_count
from harness.target.load import load_target

SHARED = [e.id for e in catalog.ENTRIES if not e.alone]


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


def test_the_default_follows_the_cores_and_the_weight() -> None:
    heavy = [e.id for e in catalog.ENTRIES if not e.alone and e.weight >= 0.5]
    light = [e.id for e in catalog.ENTRIES if not e.alone and e.weight < 0.5]
    assert heavy and light
    assert default_jobs(SHARED, cores=1) == 1
    assert default_jobs(SHARED, cores=2) >= 2  # most of a scenario is waiting: more than the cores
    assert default_jobs(SHARED, cores=64) == MAX_DEFAULT_JOBS
    assert default_jobs(light, cores=2) >= default_jobs(heavy, cores=2)
    assert default_jobs(SHARED[:2], cores=64) == 2  # never more than there are scenarios


def test_alone_scenarios_do_not_count() -> None:
    alone = [e.id for e in catalog.ENTRIES if e.alone]
    assert alone == ["TEST-RR-Q03"]
    assert default_jobs(alone, cores=8) == 1
    assert worker_count(4, [*alone, *SHARED[:2]]) == 2  # the alone one runs on a worker kept at the end
    assert worker_count(4, alone) == 1


def test_bad_or_refused_jobs_exit_2_naming_the_option() -> None:
    reference, _ = load_target(None)
    with pytest.raises(ConfigError) as bad:
        resolve_jobs(0, backend="local", target=reference, ids=SHARED)
    assert bad.value.field == "--jobs" and "1 or more" in str(bad.value)
    with pytest.raises(ConfigError) as shared:
        resolve_jobs(2, backend="external", target=reference, ids=SHARED)
    assert shared.value.field == "--jobs" and "external backend" in str(shared.value)
    compose, _ = load_target(str(Path(catalog.__file__).parents[1] / "target" / "compose.yaml"))
    with pytest.raises(ConfigError, match="compose mode"):
        resolve_jobs(3, backend="docker", target=compose, ids=SHARED)


def test_a_shared_stack_defaults_to_one_and_an_explicit_one_is_accepted() -> None:
    reference, _ = load_target(None)
    assert resolve_jobs(None, backend="external", target=reference, ids=SHARED) == 1
    assert resolve_jobs(1, backend="external", target=reference, ids=SHARED) == 1
    assert resolve_jobs(None, backend="docker", target=reference, ids=SHARED) == 1
    assert resolve_jobs(3, backend="docker", target=reference, ids=SHARED) == 3  # its own containers
    assert resolve_jobs(5, backend="local", target=reference, ids=SHARED) == 5
    # never more workers than scenarios that share the machine: one scenario is a serial run
    assert resolve_jobs(5, backend="local", target=reference, ids=["TEST-RR-006", "TEST-RR-Q03"]) == 1
    assert resolve_jobs(5, backend="local", target=reference, ids=SHARED[:2]) == 2


def test_the_plan_carries_the_jobs_and_the_reproduce_line_does_not(tmp_path: Path) -> None:
    plan = build_plan(_args("--jobs", "3", "--seed", "4", "--report-dir", str(tmp_path / "r")))
    assert plan.jobs == 3 and "--jobs" not in plan.command()  # the verdicts do not depend on it
    assert build_plan(_args("--jobs", "1", "--report-dir", str(tmp_path / "r"))).jobs == 1
    with pytest.raises(ConfigError, match="--jobs"):
        build_plan(_args("--jobs", "-1", "--report-dir", str(tmp_path / "r")))


def test_the_default_counts_only_the_cores_idle_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """A core kept busy by something else (a CI job beside the audit) is not counted: fewer jobs,
    down to one at a time, rather than stacks starved past their real-second deadlines."""
    from harness.run import jobs

    monkeypatch.setattr(jobs.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(jobs, "usable_cores", lambda: 2)
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)

    def sampled(idle_share: float) -> None:
        samples = iter([(1000, 2000), (1000 + int(idle_share * 1000), 3000)])  # (idle, total) jiffies
        monkeypatch.setattr(jobs, "_cpu_times", lambda: next(samples))

    sampled(0.95)
    assert jobs.idle_cores() == pytest.approx(1.9)
    sampled(0.95)  # an idle machine with a little background noise
    assert default_jobs(SHARED) == default_jobs(SHARED, cores=2) >= 2
    sampled(0.5)  # one core busy
    assert default_jobs(SHARED) == 1
    monkeypatch.setattr(jobs, "_cpu_times", lambda: None)  # no /proc/stat: every usable core
    assert jobs.idle_cores() == 2.0
