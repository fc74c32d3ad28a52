"""``chaos-audit run --jobs N``: N pytest workers, each on its own stack, fed one scenario at a time.

Each worker is a pytest child like the serial run's (:class:`harness.run.child.Child`: the same
lifeline, parent-death signal, pid record, and Ctrl-C handling), started with the feed plugin
(:mod:`harness.run.feed`): it collects the scenarios, starts its own PostgreSQL, proxy and
provider on its first scenario (its session fixtures; own ports, temp dirs, database names, proxy
names, provider ledger and pid records) and runs what this process hands it through a pipe.
:mod:`harness.run.schedule` decides who runs what; this module only moves the messages.

Why several pytest children fed by this process rather than pytest-xdist in one child:

* placement is ours: the ``alone`` rule and the longest-first order are decided here, in plain
  code with unit tests. An xdist worker takes its next scenario before it finishes the current
  one (pytest needs the ``nextitem``), so an alone scenario could not start without another one
  already committed beside it, and xdist's schedulers are not ours to extend safely;
* a worker is a direct child of the command, bound to it the way the serial child is: no execnet
  layer between a Ctrl-C, a SIGKILLed command or a killed CI job and the scenarios' heals;
* nothing to install: pytest-xdist stays optional (the plugin still works under it for users
  who run ``pytest scenarios -n 4`` themselves).

Outputs: each worker writes ``workers/<name>/{pytest.log,progress.jsonl,run.json}`` under the report
dir, and the shared ``histories/`` and ``allure-results/`` (file names are per scenario, so they never
collide). At the end the workers' records are merged into ``run.json`` (the serial run's shape)
and their logs into ``pytest.log``, so the report is built exactly as after a serial run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import catalog
from harness.process.pidfiles import PidFiles
from harness.run.child import POLL_S, Child, ChildOutcome, pytest_argv, sigterm_as_interrupt, stop_children
from harness.run.plan import RunPlan, built_ids
from harness.run.schedule import Close, Run, Schedule, units_of

WORKERS_DIR = "workers"


def worker_count(jobs: int, ids: Sequence[str]) -> int:
    """Workers to start: ``jobs``, but no more than there are scenarios to share the machine
    (alone scenarios run on one worker after the others have closed)."""
    shared = [i for i in ids if not ((e := catalog.entry(i)) is not None and e.alone)]
    return max(1, min(jobs, len(shared)))


@dataclass(kw_only=True)
class Worker:
    """One worker: its child, the write end of its feed, its folder."""

    name: str
    folder: Path
    child: Child
    feed_fd: int = -1  #: our (write) end of its feed
    child_feed_fd: int = -1  #: its (read) end, closed here once it has started
    exited: bool = False

    def send(self, nodeid: str) -> bool:
        """Hand it a scenario; False when it is gone (its end of the pipe is closed)."""
        try:
            os.write(self.feed_fd, (nodeid + "\n").encode())
            return True
        except OSError:
            return False

    def close_feed(self) -> None:
        if self.feed_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.feed_fd)
            self.feed_fd = -1


def run_parallel(plan: RunPlan, on_event: Callable[[dict[str, Any]], None]) -> ChildOutcome:
    """Run the scenarios on ``plan.jobs`` workers; returns when every worker has exited.

    ``on_event`` gets the workers' progress events (one ``collected``, then ``start`` / ``verdict``
    with a ``worker`` name), ``lost`` for a scenario whose worker died in its middle, and
    ``interrupt``. ``run.json`` and ``pytest.log`` are written in the report dir at the end.
    """
    ids = plan.only or tuple(sorted(built_ids(plan.scenarios_dir)))
    root = plan.report_dir / WORKERS_DIR
    shutil.rmtree(root, ignore_errors=True)
    alone_dir = Path(tempfile.mkdtemp(prefix="chaos-audit-alone-"))
    pidfiles = PidFiles.default()
    alone_key = pidfiles.record("alone-locks", cleanup_paths=[alone_dir])
    workers = [_worker(plan, root, f"w{i + 1}", alone_dir) for i in range(worker_count(plan.jobs, ids))]
    loop = _Loop(workers, on_event)
    interrupted = killed = False
    with contextlib.ExitStack() as stack:
        stack.enter_context(sigterm_as_interrupt())
        for w in workers:
            stack.enter_context(w.child)
            stack.callback(w.close_feed)
        try:
            for w in workers:
                _start(w)
            while not all(w.exited for w in workers):
                loop.step()
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            interrupted = True
            on_event({"event": "interrupt"})
            killed = stop_children([w.child for w in workers])
        loop.step(dispatch=not interrupted)  # the last events of every worker
    shutil.rmtree(alone_dir, ignore_errors=True)
    pidfiles.forget(alone_key)
    pidfiles.reap_stale()  # what a killed worker could not stop
    merged = merge_runs([_read(w.folder / "run.json") for w in workers], announced=loop.announced)
    if merged is not None:
        (plan.report_dir / "run.json").write_text(json.dumps(merged, indent=2, default=str))
    merge_logs(workers, plan.report_dir / "pytest.log")
    return ChildOutcome(
        returncode=merged_returncode([w.child.returncode for w in workers]),
        interrupted=interrupted,
        killed=killed,
    )


def _worker(plan: RunPlan, root: Path, name: str, alone_dir: Path) -> Worker:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    progress = folder / "progress.jsonl"
    read_fd, write_fd = os.pipe()  # both ends close on exec; the read end is passed to this child only

    def argv_of(parent_fd: int) -> list[str]:
        return [
            *pytest_argv(plan, progress, parent_fd, clean_allure=False),
            *("-p", "harness.run.feed", "--chaos-feed-fd", str(read_fd)),
            *("--chaos-run-json", str(folder / "run.json"), "--chaos-alone-lock", str(alone_dir)),
        ]

    child = Child(
        argv_of,
        log_path=folder / "pytest.log",
        cwd=plan.report_dir,
        progress=progress,
        pass_fds=(read_fd,),
        name=f"pytest-worker-{name}",
    )
    return Worker(name=name, folder=folder, child=child, feed_fd=write_fd, child_feed_fd=read_fd)


def _start(worker: Worker) -> None:
    try:
        worker.child.start()
    finally:
        os.close(worker.child_feed_fd)  # our copy of its end of the feed: the child has its own
        worker.child_feed_fd = -1


class _Loop:
    """One pass over the workers: their events, their exits, then the schedule's decisions."""

    def __init__(self, workers: Sequence[Worker], on_event: Callable[[dict[str, Any]], None]) -> None:
        self.workers = {w.name: w for w in workers}
        self.on_event = on_event
        self.schedule: Schedule | None = None
        self._ready: list[str] = []
        self._gone: list[str] = []
        #: every verdict record a worker announced (its progress event), in arrival order
        self.announced: list[dict[str, Any]] = []

    def step(self, *, dispatch: bool = True) -> None:
        for w in self.workers.values():
            if w.exited:
                continue
            ended = w.child.poll() is not None  # before reading: no event is written after the exit
            for event in w.child.events():
                self._handle(w, event)
            if ended:
                w.exited = True
                w.close_feed()
                self._exit(w)
        if self.schedule is None or not dispatch:
            return
        for action in self.schedule.next_actions():
            worker = self.workers[action.worker]
            if isinstance(action, Run):
                if not worker.send(action.unit.nodeid):
                    self._exit(worker)
            elif isinstance(action, Close):
                worker.close_feed()

    def _handle(self, worker: Worker, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "collected":
            if self.schedule is None:
                self.schedule = Schedule(units_of(event.get("scenarios") or []), list(self.workers))
                for name in self._gone:
                    self.schedule.gone(name)
                for name in self._ready:
                    self.schedule.ready(name)
                self.on_event(event)
            self.schedule.ready(worker.name)
        elif kind == "done":
            if self.schedule is not None:
                self.schedule.finished(worker.name)
        elif kind in ("start", "verdict"):
            if kind == "verdict":
                self.announced.append({k: v for k, v in event.items() if k not in ("event", "worker")})
            self.on_event({**event, "worker": worker.name})

    def _exit(self, worker: Worker) -> None:
        if self.schedule is None:
            self._gone.append(worker.name)
            return
        lost = self.schedule.gone(worker.name)
        if lost is not None:
            self.on_event({"event": "lost", "id": lost.id, "nodeid": lost.nodeid, "worker": worker.name})


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def merge_runs(
    runs: Sequence[dict[str, Any] | None], *, announced: Sequence[dict[str, Any]] = ()
) -> dict[str, Any] | None:
    """The workers' run records as one, in the serial run's shape (None when none was written).

    Every worker collected the same scenarios and ran a share of them: the collection is any
    worker's, the verdicts are all of theirs, the run started with the first and ended with the last.
    ``announced``: the verdicts the workers announced as they went; one whose worker wrote no
    ``run.json`` (killed after the stop grace, on a machine too busy to heal in time) is kept from
    its announcement, so a verdict the console printed is never missing from the report.
    """
    present = [r for r in runs if r is not None]
    if not present:
        return None
    first = present[0]
    errors = {str(e.get("nodeid")): e for r in present for e in r.get("collection_errors") or []}
    return {
        **first,
        "started_at": min(float(r.get("started_at") or 0) for r in present),
        "finished_at": max(float(r.get("finished_at") or 0) for r in present),
        "exitstatus": merged_returncode([r.get("exitstatus") for r in present]),
        "interrupted": any(r.get("interrupted") for r in present),
        "collected": max((r.get("collected") or [] for r in present), key=len),
        "collection_errors": list(errors.values()),
        "scenarios": _with_announced([s for r in present for s in r.get("scenarios") or []], announced),
        "aborted": next((r["aborted"] for r in present if r.get("aborted")), None),
    }


def _with_announced(
    recorded: list[dict[str, Any]], announced: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The recorded verdicts, then the announced ones no run record holds (by node id)."""
    have = {r.get("nodeid") for r in recorded}
    return recorded + [a for a in announced if a.get("nodeid") not in have]


def merged_returncode(codes: Sequence[int | None]) -> int | None:
    """The run's exit status from its workers': an error (anything but 0 / 1) wins, then a failure."""
    known = [c for c in codes if c is not None]
    if not known:
        return None
    return next((c for c in known if c not in (0, 1)), max(known))


def merge_logs(workers: Sequence[Worker], out: Path) -> None:
    """The workers' pytest logs one after the other in ``pytest.log``, each under a header."""
    with open(out, "wb") as merged:
        for w in workers:
            merged.write(f"===== worker {w.name} ({WORKERS_DIR}/{w.name}/pytest.log) =====\n".encode())
            with contextlib.suppress(OSError), open(w.folder / "pytest.log", "rb") as log:
                shutil.copyfileobj(log, merged)
            merged.write(b"\n")
