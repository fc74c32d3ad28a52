"""Reliability & Resilience Audit (seed 001), task 8: queue resilience (TEST-RR-Q01..Q03).

Q01 crashes the queue's store with jobs waiting and no worker running; Q02 kills a worker between
the provider's answer and its acknowledgement, then feeds it a poison item that kills it on every
delivery; Q03 floods the API with locust (a subprocess: importing locust into pytest breaks it)
while sampling queue depth, items in flight and the workers' memory.
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
from pathlib import Path
from typing import Any

import pytest

from harness.checkers.ledger import same_idempotency_key
from harness.scenario import ScenarioRun
from harness.stack.render import render_value
from harness.target.client import TargetClient
from harness.workload import (
    TERMINAL,
    items_by_seq,
    log_events,
    poll_until,
    settle_timeout,
    wait_terminal,
    work_calls,
    worker_holding,
)

TASK = "8. Queue resilience"
LOCUSTFILE = Path(__file__).parent / "locust" / "flood.py"


def calls_for(audit: ScenarioRun, item_id: str) -> list[dict[str, Any]]:
    return [e for e in work_calls(audit) if e["item_id"] == item_id]


def all_terminal(client: TargetClient, batch_ids: list[str]) -> bool:
    return all(client.batch_state(b) in TERMINAL for b in batch_ids)


# -- TEST-RR-Q01 ----------------------------------------------------------------------------------
@pytest.mark.audit(
    id="TEST-RR-Q01",
    title="Queue store restart with jobs waiting",
    task=TASK,
    severity="CRITICAL",
    needs=(
        "observe.health",
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
    audit.wait_for("the API to reach its database again", lambda: client.health().ok, timeout=20)

    # Then every enqueued job and item still exists...
    after = {b: len(client.items(b)) for b in jobs}
    audit.evidence("items_after_restart", sum(after.values()), expected=sum(before.values()))
    audit.expect("jobs_survive_restart", after == before, detail={"before": before, "after": after})
    if after != before:
        audit.conclude()  # lost jobs never complete: nothing more to wait for

    # ...and completes once workers start.
    for worker in workers:
        audit.stack.start_service(worker)
    bound = settle_timeout(audit, sum(before.values()))
    audit.wait_for("every job to reach a terminal state", lambda: all_terminal(client, jobs), timeout=bound)
    states = {b: client.batch_state(b) for b in jobs}
    done = sum(1 for s in states.values() if s == "completed")
    audit.evidence("jobs_completed", f"{done}/{len(jobs)}", expected=f"{len(jobs)}/{len(jobs)}")
    audit.expect("every_job_completes", done == len(jobs), detail={"states": states})
    audit.conclude()


# -- TEST-RR-Q02 ----------------------------------------------------------------------------------
@pytest.mark.audit(
    id="TEST-RR-Q02",
    title="Worker dies before acknowledging; poison item is dead-lettered",
    task=TASK,
    severity="HIGH",
    needs=(
        "database.invariants.completed_twice",
        "database.invariants.deliveries_over_limit",
        "database.invariants.duplicate_outputs",
        "observe.item_fields.holder",
        "observe.items",
        "services.api",
        "services.worker*2",
    ),
)
def test_rr_q02_redelivery_and_dead_letter(audit: ScenarioRun) -> None:
    t = audit.stack.timing
    lease_s, max_deliveries = float(t["lease_s"]), int(t["max_deliveries"])
    workers = audit.workers(2)
    audit.stack.start(services=[audit.api])
    client = audit.client()
    audit.evidence("visibility_timeout_s", lease_s, expected=f"< job timeout {t['batch_deadline_s']} s")
    audit.expect("visibility_shorter_than_job_timeout", lease_s < float(t["batch_deadline_s"]),
                 detail={"lease_s": lease_s, "batch_deadline_s": t["batch_deadline_s"]})  # fmt: skip

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

    # Then the job is redelivered after the visibility timeout and processed idempotently.
    final = wait_terminal(audit, client, job, timeout=settle_timeout(audit, 3))
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

    # Given a poison item: its provider call kills the worker that runs it, on every delivery.
    # The workers are frozen while its job is created and the trap set: a target whose idle
    # workers take a new job at once would otherwise call the item before the trap exists.
    for worker in workers:
        audit.faults.pause(worker)
    poison_job = client.batch_id_of(client.create_batch(3))
    poison = items_by_seq(client, poison_job)[2].id
    kills = 0
    with audit.provider.barrier(poison) as trap:
        for worker in workers:
            audit.faults.resume(worker)

        def next_step() -> str | None:
            if items_by_seq(client, poison_job)[2].state == "dead":
                return "dead"
            return "inside" if trap.state().arrived > kills else None

        # When each worker that takes it is killed inside that call, and restarted (a crash loop).
        while kills <= max_deliveries + 1:
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
        audit.evidence("poison_job", {"state": final, "others": others}, expected="partial, others completed")
        audit.expect("others_completed", set(others.values()) == {"completed"}, detail={"others": others})
    audit.check(audit.invariants().check("deliveries_over_limit"))
    audit.conclude()


# -- TEST-RR-Q03 ----------------------------------------------------------------------------------
FLOOD, MORE, USERS = 1000, 200, 10
PRIORITY = 10
#: the sampler's keys and the metrics (``observe.metrics_fields``) they read
SAMPLED = (("depth", "queue_depth"), ("processing", "processing"), ("completed", "completed"))


def vm_rss_kb(pid: int | None) -> int | None:
    """Resident memory of a process (``VmRSS`` in ``/proc/<pid>/status``), None if unreadable."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class Sampler(threading.Thread):
    """Every 100 ms: queue depth and items in flight (metrics), and each worker's resident memory."""

    def __init__(self, audit: ScenarioRun, client: TargetClient, workers: list[str]) -> None:
        super().__init__(name="q03-sampler", daemon=True)
        self.audit, self.client, self.workers = audit, client, workers
        self.samples: list[dict[str, Any]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.1):
            self.samples.append(self.sample())

    def sample(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": time.monotonic()}
        try:
            body = self.client.metrics().body
            for key, name in SAMPLED:
                out[key] = self.audit.observe.metrics_field(body, name)
        except Exception as exc:  # a sample lost under load is reported, not fatal
            out["error"] = str(exc)[:100]
        out["rss_kb"] = {
            w: vm_rss_kb(getattr(self.audit.stack.process(w), "pid", None)) for w in self.workers
        }
        return out

    def last(self, key: str) -> Any:
        return next((s[key] for s in reversed(self.samples) if s.get(key) is not None), None)


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
    title="Flood of 1000 jobs: backpressure, priority, bounded memory",
    task=TASK,
    severity="MEDIUM",
    needs=(
        "observe.items",
        "observe.metrics",
        "observe.metrics_fields.batches_completed",
        "observe.metrics_fields.completed",
        "observe.metrics_fields.processing",
        "observe.metrics_fields.queue_depth",
        "services.api",
        "services.worker*2",
    ),
)
def test_rr_q03_flood_backpressure_and_priority(audit: ScenarioRun, tmp_path: Path) -> None:
    if importlib.util.find_spec("locust") is None:  # never import it here: gevent would patch pytest
        audit.unknown("locust is not installed: the flood cannot be generated")
    # Given the API, two workers and a sampler of queue depth, items in flight and worker memory.
    workers = audit.workers(2)
    audit.stack.start(services=[audit.api, *workers])
    client = audit.client()

    def metric(name: str) -> int:
        return int(audit.observe.metrics_field(client.metrics().body, name))

    for name in ("queue_depth", "processing", "completed", "batches_completed"):
        metric(name)  # a target that does not report one: unknown before anything is flooded
    sampler = Sampler(audit, client.fresh("sampler"), workers)
    sampler.start()
    try:
        # When locust floods 1000 one-item jobs (workers frozen while they land, so the queue is
        # 1000 deep whatever the relative speed of API and workers on this machine)...
        started = time.monotonic()
        for worker in workers:  # up (it has logged) before it is frozen: a warm memory baseline
            audit.wait_for(f"{worker} to start", functools.partial(log_events, audit, worker), timeout=20)
            audit.faults.pause(worker)
        first = flood_result(start_flood(audit, FLOOD, tmp_path / "flood"), tmp_path / "flood", timeout=90)
        for worker in workers:
            audit.faults.resume(worker)
        # ...one priority job arrives behind them while the workers start on the bulk...
        priority_job = client.batch_id_of(client.create_batch(1, priority=PRIORITY))
        enqueued_at = time.monotonic()
        ahead = metric("queue_depth") - 1
        # ...and more jobs keep coming while the first ones are processed.
        wave_2 = start_flood(audit, MORE, tmp_path / "more")
        depth_at_wave_2 = sampler.sample()["depth"]
        rss_base = sampler.sample()["rss_kb"]  # workers warm, queue full: the memory baseline
        poll_until(lambda: client.batch_state(priority_job) in TERMINAL, timeout=60, interval=0.05)
        second = flood_result(wave_2, tmp_path / "more", timeout=90)
        drained = poll_until(lambda: metric("queue_depth") == 0 and metric("processing") == 0,
                             timeout=120, interval=0.1)  # fmt: skip
        drain_s = round(time.monotonic() - started, 1)
    finally:
        sampler.halt.set()
        sampler.join(5)

    # Then every job was accepted, the queue drained, the priority job overtook the bulk...
    audit.evidence("flood", {"wave_1": first, "wave_2": second, "depth_when_wave_2_started": depth_at_wave_2},
                   expected={"requests": FLOOD + MORE, "failures": 0})  # fmt: skip
    accepted = first["requests"] + second["requests"]
    rejected = first["failures"] + second["failures"]
    audit.expect("all_accepted", accepted == FLOOD + MORE and rejected == 0,
                 detail={"requests": accepted, "failures": rejected, "expected": FLOOD + MORE})  # fmt: skip
    audit.expect("added_while_running", (depth_at_wave_2 or 0) > 0, detail={"depth": depth_at_wave_2})
    batches = metric("batches_completed")
    audit.evidence("drained", {"after_s": drain_s if drained else None, "batches_completed": batches},
                   expected=f"{FLOOD + MORE + 1} completed")  # fmt: skip
    audit.expect("queue_drained", bool(drained) and batches == FLOOD + MORE + 1,
                 detail={"drained": bool(drained), "batches_completed": batches})  # fmt: skip
    overtaken = bulk_calls_before(audit, client, priority_job, since=enqueued_at)
    audit.evidence("priority_job", {"bulk_queued_ahead": ahead, "bulk_started_before_it": overtaken},
                   expected=f"<= {2 * len(workers)} bulk calls before it")  # fmt: skip
    audit.expect("priority_before_bulk", overtaken is not None and overtaken <= 2 * len(workers),
                 detail={"bulk_ahead": ahead, "bulk_started_first": overtaken})  # fmt: skip

    # ...items in flight never exceeded one per worker, memory stayed bounded, depth was visible.
    in_flight = max(((s.get("processing") or 0) for s in sampler.samples), default=0)
    depths = [s["depth"] for s in sampler.samples if s.get("depth") is not None]
    audit.evidence("max_items_in_flight", in_flight, expected=f"<= {len(workers)} (1 per worker)")
    audit.expect("one_item_per_worker", in_flight <= len(workers), detail={"max_processing": in_flight})
    audit.evidence(
        "queue_depth", {"max": max(depths, default=None), "samples": len(depths)}, expected="observable"
    )
    audit.expect("queue_depth_observable", bool(depths) and max(depths) > 0, detail={"samples": len(depths)})
    growth = {}
    for w in workers:
        rss = [s["rss_kb"][w] for s in sampler.samples if s["rss_kb"].get(w)]
        base = rss_base.get(w)
        growth[w] = (
            {"baseline_mb": round(base / 1024, 1), "max_mb": round(max(rss) / 1024, 1)}
            if rss and base
            else None
        )
    audit.evidence("worker_rss", growth, expected="max - baseline (queue full) < 32 MB")
    audit.expect("memory_bounded", all(g and g["max_mb"] - g["baseline_mb"] < 32 for g in growth.values()),
                 detail={"rss": growth})  # fmt: skip
    audit.conclude()
