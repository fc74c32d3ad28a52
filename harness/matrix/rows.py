"""``chaos-audit matrix --jobs N``: defect rows side by side, each row its own audit run and stack.

A row is what the serial matrix runs: one pytest child over the row's scenarios with the defect
switched on (:class:`harness.run.child.Child`, the report in ``DIR/defects/<name>``), so its own
PostgreSQL, proxy, provider and services. Up to ``slots`` rows run at once, the longest expected
first (a row whose defect makes a scenario wait out its timeout can take minutes: started last,
it would be the whole tail); a row holding an ``alone`` scenario of the catalogue runs with no
other row beside it (those rows go last, so the machine is given to them once). Rows end in any
order: ``on_done`` is called as each ends, and the caller prints them in the plan's order. With one
slot the rows run one after the other in the plan's order, exactly as the serial matrix did.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import catalog
from harness.process.pidfiles import PidFiles
from harness.run.child import POLL_S, Child, ChildOutcome, pytest_argv, sigterm_as_interrupt, stop_children
from harness.run.plan import RunPlan


@dataclass(frozen=True, kw_only=True)
class RowRun:
    """One row to run: its key (the defect, or ``correct``) and its validated run plan."""

    key: str
    plan: RunPlan
    #: how long it is expected to take (the order of a parallel matrix: longest first)
    seconds: float = 0.0

    @property
    def alone(self) -> bool:
        return any((e := catalog.entry(i)) is not None and e.alone for i in self.plan.only)


@dataclass(kw_only=True)
class _Running:
    row: RowRun
    child: Child
    started: float


def run_rows(
    rows: Sequence[RowRun], slots: int, on_done: Callable[[RowRun, ChildOutcome, float], None]
) -> bool:
    """Run every row (``on_done(row, outcome, seconds)`` as each ends); True when interrupted.

    On Ctrl-C or SIGTERM the running rows are stopped (their faults healed) and reported through
    ``on_done`` as interrupted; the rows not started yet are not started.
    """
    longest_first = sorted(rows, key=lambda r: -r.seconds)
    pending = (
        list(rows)
        if slots == 1
        else [r for r in longest_first if not r.alone] + [r for r in longest_first if r.alone]
    )
    running: list[_Running] = []
    with sigterm_as_interrupt(), contextlib.ExitStack() as stack:
        try:
            while pending or running:
                while pending and _may_start(pending[0], running, slots):
                    running.append(_start(pending.pop(0), stack))
                for r in [r for r in running if r.child.poll() is not None]:
                    running.remove(r)
                    r.child.events()  # the matrix reads each row's run.json, not its progress
                    on_done(r.row, _outcome(r.child, interrupted=False), time.monotonic() - r.started)
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            killed = stop_children([r.child for r in running])
            for r in running:
                on_done(
                    r.row, _outcome(r.child, interrupted=True, killed=killed), time.monotonic() - r.started
                )
            return True
        finally:
            PidFiles.default().reap_stale()  # what a killed row could not stop
    return False


def expected_seconds(report_dir: Path, ids: Sequence[str]) -> float:
    """How long a row should take: what it took the last time (its run.json in ``report_dir``, from
    an earlier matrix in the same folder), else the catalogue's seconds of its scenarios."""
    try:
        last = json.loads((report_dir / "run.json").read_text())
        return float(last["finished_at"]) - float(last["started_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return sum(e.seconds if (e := catalog.entry(i)) else catalog.DEFAULT_SECONDS for i in ids)


def _may_start(row: RowRun, running: Sequence[_Running], slots: int) -> bool:
    if any(r.row.alone for r in running):
        return False
    return not running if row.alone else len(running) < slots


def _start(row: RowRun, stack: contextlib.ExitStack) -> _Running:
    plan = row.plan
    plan.report_dir.mkdir(parents=True, exist_ok=True)
    progress = plan.report_dir / "progress.jsonl"
    progress.unlink(missing_ok=True)
    child = stack.enter_context(
        Child(
            lambda fd: pytest_argv(plan, progress, fd),
            log_path=plan.report_dir / "pytest.log",
            cwd=plan.report_dir,
            progress=progress,
            name=f"pytest-row-{row.key}",
        )
    )
    started = time.monotonic()
    child.start()
    return _Running(row=row, child=child, started=started)


def _outcome(child: Child, *, interrupted: bool, killed: bool = False) -> ChildOutcome:
    return ChildOutcome(returncode=child.returncode, interrupted=interrupted, killed=killed)
