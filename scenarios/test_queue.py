"""Reliability & Resilience Audit (seed 001), task 8: queue resilience (TEST-RR-Q01..Q03).

Q01 crashes the queue's store with jobs waiting and no worker running; Q02 kills a worker between
the provider's answer and its acknowledgement, then feeds it a poison item that kills it on every
delivery; Q03 floods the API with locust (a subprocess: importing locust into pytest breaks it)
while sampling items in flight, the workers' memory and (when the target has metrics) queue depth.

Each scenario answers its question from what every target has (item and batch states over the
API, the provider's ledger); the store's invariants and the target's metrics add evidence where
the target answers them. Q01 tells lost jobs (queue durability) from jobs whose items all
completed but whose own state was never rolled up (a separate defect, with its own fix).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.checkers.ledger import same_idempotency_key
from harness.errors import ObservationMissing, Undecidable
from harness.scenario import ScenarioRun
from harness.stack.render import render_value
from harness.target.absence import declared_absent
from harness.target.client import TargetClient
from harness.verdict import absent_capability
from harness.workload import (
    TERMINAL,
    items_by_seq,
    log_events,
    poll_until,
    require_state,
    settle_timeout,
    wait_terminal,
    work_calls,
    worker_holding,
    workers_frozen,
)

LOCUSTFILE = Path(__file__).parent / "locust" / "flood.py"


def calls_for(audit: ScenarioRun, item_id: str) -> list[dict[str, Any]]:
    return [e for e in work_calls(audit) if e["item_id"] == item_id]


def all_terminal(client: TargetClient, batch_ids: list[str]) -> bool:
    return all(client.batch_state(b) in TERMINAL for b in batch_ids)


# -- TEST-RR-Q01 ----------------------------------------------------------------------------------
#: item states after which nothing more happens to an item without a user action
ITEM_DONE = TERMINAL | {"dead"}


@pytest.mark.audit(
    id="TEST-RR-Q01",
    needs=(
        "observe.health?",
        "observe.items",
        "services.api",
        "services.worker*2",
    ),
)
def test_rr_q01_queue_survives_store_restart(audit: ScenarioRun) -> None:
    # Given jobs enqueued while no worker runs (only the API is up).
    workers = audit.workers(2)
    audit.stack.start(services=[audit.api])
    client = audit.client()
    jobs = [client.batch_id_of(client.create_batch(4)) for _ in range(5)]
    before = {b: len(client.items(b)) for b in jobs}

    # When the queue's store is killed (SIGKILL: the broker when the target has one, else PostgreSQL)
    # and restarted.
    audit.faults.queue_store_crash()
    audit.faults.queue_store_restart()
    audit.wait_for("the API to reach its store again", lambda: api_answers(client, jobs[0]), timeout=20)

    # Then every enqueued job and item still exists...
    after = {b: len(client.items(b)) for b in jobs}
    audit.evidence("items_after_restart", sum(after.values()), expected=sum(before.values()))
    audit.expect("jobs_survive_restart", after == before, detail={"before": before, "after": after})
    if after != before:
        audit.conclude()  # lost jobs never complete: nothing more to wait for

    # ...and every item is processed once workers start (a message lost by the store leaves its
    # item queued for ever: queue durability).
    for worker in workers:
        audit.stack.start_service(worker)
    bound = settle_timeout(audit, sum(before.values()))
    poll_until(lambda: all(v.state in ITEM_DONE for b in jobs for v in client.items(b)), timeout=bound)
    items = {b: [v.state for v in client.items(b)] for b in jobs}
    unfinished = {b: sorted(set(s) - {"completed"}) for b, s in items.items() if set(s) != {"completed"}}
    done = sum(1 for s in items.values() if set(s) == {"completed"})
    audit.evidence("jobs_completed", f"{done}/{len(jobs)}", expected=f"{len(jobs)}/{len(jobs)}")
    audit.expect("every_job_completes", not unfinished, detail={"jobs_with_items_not_completed": unfinished})

    # And a job whose items all completed is itself completed (its roll-up is a separate defect from
    # the queue's durability: two workers finishing together must not leave it running).
    finished = [b for b in jobs if b not in unfinished]
    poll_until(
        lambda: all(client.batch_state(b) in TERMINAL for b in finished), timeout=settle_timeout(audit, 0)
    )
    states = {b: client.batch_state(b) for b in finished}
    audit.evidence("job_states", sorted(states.values()), expected=["completed"] * len(finished))
    audit.expect("batch_rolled_up", all(s == "completed" for s in states.values()),
                 detail={"not_completed": {b: s for b, s in states.items() if s != "completed"}})  # fmt: skip
    audit.conclude()


def api_answers(client: TargetClient, batch_id: str) -> bool:
    """The API answers from its store again: its health call when it has one, else the items call."""
    if client.target.observe.health is not None:
        return client.health().ok
    return bool(client.items(batch_id))


# -- TEST-RR-Q02 ----------------------------------------------------------------------------------
#: crashes the harness inflicts on the poison item when the target declares no delivery limit
OWN_MAX_DELIVERIES = 5


@pytest.mark.audit(
    id="TEST-RR-Q02",
    needs=(
        "observe.item_fields.holder",
        "observe.items",
        "services.api",
        "services.worker*2",
    ),
)
def test_rr_q02_redelivery_and_dead_letter(audit: ScenarioRun) -> None:
    t = audit.stack.timing
    lease_s, max_deliveries = float(t["lease_s"]), t.get("max_deliveries")
    workers = audit.workers(2)
    audit.stack.start(services=[audit.api])
    client = audit.client()
    with audit.deciding("visibility_shorter_than_job_timeout"):
        deadline = t.get("batch_deadline_s")
        if deadline is None:
            raise ObservationMissing("timing.batch_deadline_s", "the target file gives no job timeout")
        audit.evidence("visibility_timeout_s", lease_s, expected=f"< job timeout {deadline} s")
        audit.expect("visibility_shorter_than_job_timeout", lease_s < float(deadline),
                     detail={"lease_s": lease_s, "batch_deadline_s": deadline})  # fmt: skip

    # Given two workers, one of them inside item 2's provider call (a barrier holds it there).
    job = client.batch_id_of(client.create_batch(3))
    acked = items_by_seq(client, job)[2].id
    with audit.provider.barrier(acked) as held:
        for worker in workers:
            audit.stack.start_service(worker)
        held.wait(timeout=settle_timeout(audit, 3))
        holder = worker_holding(audit, client, job, 2)
        # When that worker freezes, the provider answers, and the worker dies before acknowledging.
        audit.faults.pause(holder)
        held.release()
        answered = poll_until(lambda: [e for e in calls_for(audit, acked) if e["outcome"] == "ok"], timeout=5)
        audit.faults.kill(holder)
        audit.faults.resume(holder)  # nothing left to resume: spends the pause's heal
        killed_at = time.monotonic()
    audit.expect("provider_answered_before_crash", bool(answered), detail={"calls": calls_for(audit, acked)})
    audit.faults.restart(holder)  # back in the pool; redelivery is the other worker's job

    # Then the job is redelivered after the visibility timeout and processed idempotently (a job
    # never redelivered is a failed check with its numbers, not a timeout).
    settled = poll_until(lambda: client.batch_state(job) in TERMINAL, timeout=settle_timeout(audit, 3))
    final = client.batch_state(job)
    calls = calls_for(audit, acked)
    redelivered = [e for e in calls if float(e["arrived_at"]) > killed_at]
    delay = round(float(redelivered[0]["arrived_at"]) - killed_at, 2) if redelivered else None
    audit.evidence("redelivered_after_s", delay, expected=f"after the lease ({lease_s} s) expired")
    audit.evidence("calls_for_unacked_item", len(calls), expected=2)
    audit.expect("redelivered", len(redelivered) == 1, detail={"calls": calls})
    item = items_by_seq(client, job)[2]
    deliveries = audit.observe.item_field(item, "deliveries", optional=True)
    audit.evidence("unacked_item", {"state": item.state, "deliveries": deliveries},
                   expected="completed after 2 deliveries")  # fmt: skip
    audit.expect("job_completed_once", final == "completed" and item.state == "completed",
                 detail={"batch": final, "item": item.state})  # fmt: skip
    audit.check(same_idempotency_key(calls))
    audit.check(audit.invariants().check("duplicate_outputs"))
    audit.check(audit.invariants().check("completed_twice"))
    if not settled:
        audit.conclude()  # the unacknowledged job is still held: no worker is free for the poison item

    # Given a poison item: its provider call kills the worker that runs it, on every delivery.
    # The workers are frozen while its job is created and the trap set: a target whose idle
    # workers take a new job at once would otherwise call the item before the trap exists.
    # A target whose file says it has no dead-letter state (or no delivery limit) fails at once.
    with audit.deciding("poison_dead_lettered", "dead_after_max_deliveries", "others_completed"):
        require_state(audit, "dead")
        if max_deliveries is None:
            raise ObservationMissing("timing.max_deliveries", "the target file declares no delivery limit")
        kills = 0
        with workers_frozen(audit, workers):
            poison_job = client.batch_id_of(client.create_batch(3))
            poison = items_by_seq(client, poison_job)[2].id
            trap = audit.provider.barrier(poison)
        with trap:

            def next_step() -> str | None:
                if items_by_seq(client, poison_job)[2].state == "dead":
                    return "dead"
                return "inside" if trap.state().arrived > kills else None

            # When each worker that takes it is killed inside that call, and restarted (a crash loop).
            while kills <= int(max_deliveries) + 1:
                step = audit.wait_for("the poison item's next delivery or its dead-lettering", next_step,
                                      timeout=3 * lease_s + 10, interval=0.05)  # fmt: skip
                if step == "dead":
                    break
                victim = worker_holding(audit, client, poison_job, 2)
                audit.faults.kill(victim)
                kills += 1
                audit.faults.restart(victim)

        # Then it lands in the dead-letter state after N deliveries; the rest of the job goes on.
        state = items_by_seq(client, poison_job)[2].state
        delivered = len(calls_for(audit, poison))
        audit.evidence("poison_item", {"state": state, "deliveries": delivered},
                       expected={"state": "dead", "deliveries": max_deliveries})  # fmt: skip
        audit.expect("poison_dead_lettered", state == "dead", detail={"state": state, "crashes": kills})
        audit.expect("dead_after_max_deliveries", delivered == max_deliveries,
                     detail={"deliveries": delivered, "max_deliveries": max_deliveries})  # fmt: skip
        if state == "dead":
            final = wait_terminal(audit, client, poison_job, timeout=settle_timeout(audit, 3))
            others = {s: v.state for s, v in items_by_seq(client, poison_job).items() if s != 2}
            audit.evidence("poison_job", {"state": final, "others": others},
                           expected="partial, others completed")  # fmt: skip
            audit.expect("others_completed", set(others.values()) == {"completed"}, detail={"others": others})
    audit.check(audit.invariants().check("deliveries_over_limit"))
    audit.conclude()


# -- TEST-RR-Q03 ----------------------------------------------------------------------------------
FLOOD, MORE, USERS = 1000, 200, 10
#: how long the drain may take while the count still grows (a stall ends it at once)
DRAIN_BOUND_S = 120.0
PRIORITY = 10
#: a batch of the bulk the harness creates itself (its id known), so items in flight are seen over the
#: items call of every target; the metrics (when the target has them) are sampled beside it
TRACKED = 8
#: the sampler's keys and the metrics (``observe.metrics_fields``) they read
SAMPLED = (("depth", "queue_depth"), ("processing", "processing"), ("completed", "completed"))


class Sampler(threading.Thread):
    """Every 100 ms: the tracked batch's items in flight (items call), queue depth and items in flight
    (metrics, when the target has them), and each worker's resident memory."""

    def __init__(self, audit: ScenarioRun, client: TargetClient, workers: list[str]) -> None:
        super().__init__(name="q03-sampler", daemon=True)
        self.audit, self.client, self.workers = audit, client, workers
        self.has_metrics = audit.stack.target.observe.metrics is not None
        self.tracked: str | None = None  #: the tracked batch, once created
        self.samples: list[dict[str, Any]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.1):
            self.samples.append(self.sample())

    def sample(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": time.monotonic()}
        try:  # a sample lost under load is reported, not fatal
            if self.tracked is not None:
                states = [v.state for v in self.client.items(self.tracked)]
                out["tracked_processing"] = states.count("processing")
            if self.has_metrics:
                body = self.client.metrics().body
                for key, name in SAMPLED:
                    out[key] = self.audit.observe.metrics_field(body, name, optional=True)
        except Exception as exc:
            out["error"] = str(exc)[:100]
        out["rss_kb"] = {w: self.audit.stack.memory_kb(w) for w in self.workers}
        return out

    def last(self, key: str) -> Any:
        return next((s[key] for s in reversed(self.samples) if s.get(key) is not None), None)

    def peak(self, key: str) -> int | None:
        values = [int(s[key]) for s in self.samples if s.get(key) is not None]
        return max(values) if values else None


def metric(audit: ScenarioRun, client: TargetClient, name: str) -> int:
    """One metric now (``observe.metrics_fields.<name>``); ``ObservationMissing`` when not answered."""
    return int(audit.observe.metrics_field(client.metrics().body, name))


class Progress:
    """A count growing towards ``until``: ``done`` once reached, ``stalled`` once it has not grown for
    ``stall_s`` (the workers stopped taking jobs: no need to wait out the whole bound)."""

    def __init__(self, count: Callable[[], int], *, until: int, stall_s: float) -> None:
        self.count, self.until, self.stall_s = count, until, stall_s
        self.last, self.since = -1, time.monotonic()

    def done(self) -> str | None:
        n, now = self.count(), time.monotonic()
        if n >= self.until:
            return "done"
        if n > self.last:
            self.last, self.since = n, now
        return "stalled" if now - self.since > self.stall_s else None


def no_metrics(audit: ScenarioRun, sampler: Sampler) -> None:
    """``ObservationMissing("observe.metrics")`` when the target has no metrics call."""
    if not sampler.has_metrics:
        absent = declared_absent(audit.stack.target, "observe.metrics")
        raise ObservationMissing(
            "observe.metrics", "null in its target file" if absent else "not given in its target file"
        )


def called_items(audit: ScenarioRun) -> set[str]:
    """The items the provider answered (``ok``) at least once."""
    return {e["item_id"] for e in work_calls(audit) if e.get("outcome") == "ok"}


def takes_priority(client: TargetClient) -> bool:
    """Whether the target's create call carries a priority (a ``{priority}`` in its path or body)."""
    create = client.target.trigger.create
    return "{priority}" in create.path or "{priority}" in json.dumps(create.body)


def bulk_calls_before(audit: ScenarioRun, client: TargetClient, job: str, *, since: float) -> int | None:
    """Provider calls for other jobs that started after ``job`` was enqueued and before its own call."""
    own_id = items_by_seq(client, job)[1].id
    calls = work_calls(audit)
    own = next((e for e in calls if e["item_id"] == own_id), None)
    if own is None:
        return None
    return sum(
        1 for e in calls if e["item_id"] != own_id and since <= float(e["arrived_at"]) < own["arrived_at"]
    )


def start_flood(audit: ScenarioRun, total: int, out: Path) -> subprocess.Popen[bytes]:
    """Run ``scenarios/locust/flood.py`` headless against the API; stats land in ``<out>.json``."""
    trig = audit.stack.target.trigger
    body = render_value(trig.create.body, {"n": 1, "priority": 0}, where="trigger.create.body")
    env = {**os.environ, "FLOOD_TOTAL": str(total), "FLOOD_METHOD": trig.create.method,
           "FLOOD_PATH": trig.create.path, "FLOOD_BODY": json.dumps(body),
           "FLOOD_KEY_HEADER": trig.idempotency_header or ""}  # fmt: skip
    argv = [sys.executable, "-m", "locust", "--headless", "-f", str(LOCUSTFILE),
            "--host", str(audit.stack.api_url), "-u", str(USERS), "-r", str(USERS), "--run-time", "60s",
            "--stop-timeout", "5", "--json-file", str(out), "--only-summary", "-L", "WARNING"]  # fmt: skip
    with open(out.with_suffix(".log"), "wb") as log:  # the child keeps its own copy of the fd
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)


def flood_result(proc: subprocess.Popen[bytes], out: Path, timeout: float) -> dict[str, Any]:
    """Wait for locust and sum its JSON stats: requests, failures, and the rate it reached."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    try:
        stats = json.loads(Path(f"{out}.json").read_text())
    except (OSError, ValueError):
        return {"requests": 0, "failures": 0, "exit_code": proc.returncode}
    requests = sum(int(s.get("num_requests", 0)) for s in stats)
    spans = [float(s["last_request_timestamp"]) - float(s["start_time"]) for s in stats
             if s.get("last_request_timestamp") and s.get("start_time")]  # fmt: skip
    rate = round(requests / max(spans), 1) if spans and max(spans) > 0 else None
    failures = sum(int(s.get("num_failures", 0)) for s in stats)
    return {"requests": requests, "failures": failures, "per_s": rate, "exit_code": proc.returncode}


@pytest.mark.audit(
    id="TEST-RR-Q03",
    needs=(
        "observe.items",
        "services.api",
        "services.worker*2",
    ),
)
def test_rr_q03_flood_backpressure_and_priority(audit: ScenarioRun, tmp_path: Path) -> None:
    if importlib.util.find_spec("locust") is None:  # never import it here: gevent would patch pytest
        audit.unknown("locust is not installed: the flood cannot be generated")
    # Given the API, two workers and a sampler of items in flight, queue depth and worker memory.
    workers = audit.workers(2)
    audit.stack.start(services=[audit.api, *workers])
    client = audit.client()
    sampler = Sampler(audit, client.fresh("sampler"), workers)
    sampler.start()
    try:
        # When locust floods 1000 one-item jobs, and the harness adds one tracked batch behind them
        # (workers frozen while they land, so the queue is 1000 deep whatever the relative speed of
        # API and workers on this machine)...
        started = time.monotonic()
        for worker in workers:  # up (it has logged) before it is frozen: a warm memory baseline
            poll_until(functools.partial(log_events, audit, worker), timeout=20)
            audit.faults.pause(worker)
        first = flood_result(start_flood(audit, FLOOD, tmp_path / "flood"), tmp_path / "flood", timeout=90)
        sampler.tracked = tracked = client.batch_id_of(client.create_batch(TRACKED))
        for worker in workers:
            audit.faults.resume(worker)
        # ...one priority job arrives behind them while the workers start on the bulk...
        priority_job = client.batch_id_of(client.create_batch(1, priority=PRIORITY))
        enqueued_at = time.monotonic()
        # ...and more jobs keep coming while the first ones are processed.
        wave_2 = start_flood(audit, MORE, tmp_path / "more")
        called_at_wave_2 = len(called_items(audit))
        at_wave_2 = sampler.sample()
        rss_base = sampler.sample()["rss_kb"]  # workers warm, queue full: the memory baseline
        poll_until(lambda: client.batch_state(priority_job) in TERMINAL, timeout=60, interval=0.05)
        second = flood_result(wave_2, tmp_path / "more", timeout=90)
        jobs = FLOOD + MORE + 1 + TRACKED  # one item each, the tracked batch TRACKED items
        progress = Progress(
            lambda: len(called_items(audit)), until=jobs, stall_s=10 + 3 * audit.stack.timing["lease_s"]
        )
        ended = poll_until(progress.done, timeout=DRAIN_BOUND_S, interval=0.5)
        drained = ended == "done"
        drain_s = round(time.monotonic() - started, 1)
        known = {"tracked": tracked, "priority": priority_job}
        poll_until(lambda: all(client.batch_state(b) in TERMINAL for b in known.values()), timeout=10)
    finally:
        sampler.halt.set()
        sampler.join(5)

    # Then every job was accepted, the bulk was still running when more arrived, every job was
    # processed (the provider answered each one's item; the jobs the harness knows completed)...
    flood = {"wave_1": first, "wave_2": second, "depth_when_wave_2_started": at_wave_2.get("depth")}
    audit.evidence("flood", flood, expected={"requests": FLOOD + MORE, "failures": 0})
    accepted = first["requests"] + second["requests"]
    rejected = first["failures"] + second["failures"]
    audit.expect("all_accepted", accepted == FLOOD + MORE and rejected == 0,
                 detail={"requests": accepted, "failures": rejected, "expected": FLOOD + MORE})  # fmt: skip
    audit.evidence("items_called_when_wave_2_started", called_at_wave_2, expected=f"< {FLOOD}")
    audit.expect("added_while_running", called_at_wave_2 < FLOOD, detail={"items_called": called_at_wave_2})
    called = len(called_items(audit))
    states = {k: client.batch_state(b) for k, b in known.items()}
    drain = {"after_s": drain_s if drained else None, "items_called": called, "jobs": states}
    audit.evidence("drained", drain, expected=f"{jobs} items called; tracked and priority jobs completed")
    # The stack's own job deadline ends jobs that waited longer (a slow machine, a slow target): a
    # flood that outlasted it and did not complete every job proves neither a drain nor a loss. Any
    # job may be the one that waited too long (the bulk queued first, not only the tracked batch:
    # the rq target once completed the tracked and priority jobs and timed out 83 bulk ones), and
    # the flood's jobs are not known one by one, so the shortfall cannot be told from a loss.
    deadline = audit.stack.timing.get("batch_deadline_s")
    complete = drained and called == jobs and set(states.values()) == {"completed"}
    outlasted = deadline is not None and drain_s > float(deadline) and not complete
    outlasted_why = (
        f"timing.batch_deadline_s: the flood took {drain_s} s, past the stack's own {deadline} s job "
        f"deadline, which may end any job that waited that long, as it should ({called} of {jobs} "
        f"items called; tracked and priority jobs {states})"
    )
    with audit.deciding("queue_drained"):
        if ended is None:  # still growing at the bound: slow, not lost (a loss stalls the count)
            raise Undecidable(
                f"the flood was still draining ({called} of {jobs} items called, the count growing) "
                f"when the scenario's {DRAIN_BOUND_S:.0f} s bound ended: a slow machine or target"
            )
        if outlasted:
            raise Undecidable(outlasted_why)
        audit.expect("queue_drained", complete,
                     detail={"items_called": called, "expected": jobs, "jobs": states})  # fmt: skip

    # ...and the priority job overtook the bulk.
    if not takes_priority(client):  # the system has no priority: a finding, not a measurement
        why = "trigger.create has no {priority}: a job cannot be created with a priority"
        audit.check(absent_capability("priority_before_bulk", "trigger.priority", why))
    else:
        overtaken = bulk_calls_before(audit, client, priority_job, since=enqueued_at)
        ahead = at_wave_2.get("depth")
        audit.evidence("priority_job", {"bulk_queued_ahead": ahead, "bulk_started_before_it": overtaken},
                       expected=f"<= {2 * len(workers)} bulk calls before it")  # fmt: skip
        audit.expect("priority_before_bulk", overtaken is not None and overtaken <= 2 * len(workers),
                     detail={"bulk_ahead": ahead, "bulk_started_first": overtaken})  # fmt: skip

    # Items in flight never exceeded one per worker (the tracked batch's items; the target's own
    # count too when it has one), and memory stayed bounded.
    tracked_peak, metric_peak = sampler.peak("tracked_processing"), sampler.peak("processing")
    in_flight = max(p for p in (tracked_peak, metric_peak, 0) if p is not None)
    audit.evidence("max_items_in_flight", {"tracked_batch": tracked_peak, "metrics": metric_peak},
                   expected=f"<= {len(workers)} (1 per worker)")  # fmt: skip
    audit.expect("one_item_per_worker", tracked_peak is not None and in_flight <= len(workers),
                 detail={"max_processing_tracked": tracked_peak, "max_processing_metric": metric_peak,
                         "samples": len(sampler.samples)})  # fmt: skip
    with audit.deciding("memory_bounded"):
        growth = {}
        for w in workers:
            rss = [s["rss_kb"][w] for s in sampler.samples if s["rss_kb"].get(w)]
            base = rss_base.get(w)
            if not rss or not base:
                raise Undecidable(
                    f"the memory of {w} is not readable on this backend (a process it started: "
                    f"/proc/<pid>/status; a running stack: services.{w}.handle.commands.memory_kb)",
                    field=f"services.{w}.handle.commands.memory_kb",
                )
            growth[w] = {"baseline_mb": round(base / 1024, 1), "max_mb": round(max(rss) / 1024, 1)}
        audit.evidence("worker_rss", growth, expected="max - baseline (queue full) < 32 MB")
        audit.expect("memory_bounded", all(g["max_mb"] - g["baseline_mb"] < 32 for g in growth.values()),
                     detail={"rss": growth})  # fmt: skip

    # The target's own numbers (when it has them) show the queue's depth, and the queue drained.
    with audit.deciding("queue_depth_observable"):
        no_metrics(audit, sampler)
        metric(audit, client, "queue_depth")  # recorded as used; unknown when not answered
        depths = [s["depth"] for s in sampler.samples if s.get("depth") is not None]
        seen = {"max": max(depths, default=None), "samples": len(depths), "at_wave_2": at_wave_2.get("depth")}
        audit.evidence("queue_depth", seen, expected="observable, > 0 when the second wave started")
        observable = bool(depths) and max(depths) > 0 and (at_wave_2.get("depth") or 0) > 0
        audit.expect("queue_depth_observable", observable, detail=seen)
    with audit.deciding("metrics_show_drained"):
        no_metrics(audit, sampler)
        if outlasted or ended is None:
            raise Undecidable(outlasted_why if outlasted else "the flood was still draining at the bound")

        def numbers() -> dict[str, int]:
            return {n: metric(audit, client, n) for n in ("queue_depth", "processing", "batches_completed")}

        # at least this scenario's batches completed: a running stack's counter also holds others'
        least = FLOOD + MORE + 2

        def drained(got: dict[str, int]) -> bool:
            return got["queue_depth"] == 0 and got["processing"] == 0 and got["batches_completed"] >= least

        numbers()  # a metric the target does not answer: unknown now, not a timeout below
        poll_until(lambda: drained(numbers()), timeout=10, interval=0.1)
        got = numbers()
        want = {"queue_depth": 0, "processing": 0, "batches_completed": f">= {least}"}
        audit.evidence("metrics_at_end", got, expected=want)
        audit.expect("metrics_show_drained", drained(got), detail={"metrics": got, "expected": want})
    audit.conclude()
