"""rqtarget's recovery, against real processes: idempotent create, a SIGKILLed worker's task reaped
and completed once, a broker restart that keeps (or, misconfigured, loses) queued RQ jobs, fencing
of a worker that lost its lease, and retries that touch only the failed tasks.
Each test also runs the defect that breaks it, so every defect is shown observable."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.faults.injector import Faults
from harness.stack.local import LocalStack
from tests.rqtarget.helpers import (
    NoHistory,
    api,
    create,
    generate_calls,
    job,
    log_events,
    sql,
    state_is,
    tasks,
    wait_for,
)  # fmt: skip

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("defect", [None, "no_idempotency"])
def test_concurrent_creates_with_one_key(make_stack: Callable[..., LocalStack], defect: str | None) -> None:
    stack = make_stack(defects=(defect,) if defect else (), services=["api"])
    key = uuid.uuid4().hex

    def post(_: int) -> str:
        with api(stack) as c:
            return str(
                c.post("/api/jobs", json={"size": 3}, headers={"Idempotency-Key": key}).json()["job_id"]
            )

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(post, range(8)))
    jobs = sql(stack, "SELECT count(*) AS n FROM jobs")[0]["n"]
    if defect is None:
        assert len(ids) == 1 and jobs == 1
    else:
        assert len(ids) == 8 and jobs == 8


@pytest.mark.parametrize("defect", [None, "no_lease_expiry"])
def test_killed_worker_task_is_reaped(make_stack: Callable[..., LocalStack], defect: str | None) -> None:
    stack = make_stack(defects=(defect,) if defect else (), services=["api"])
    faults = Faults(stack, NoHistory())
    job_id = create(stack, 4)
    victim = tasks(stack, job_id)[1]["task_id"]  # position 2
    with stack.provider.barrier(victim) as held:
        stack.start_service("worker-1")
        held.wait(timeout=10)
        assert tasks(stack, job_id)[1]["worker"] == "worker-1"
        faults.kill("worker-1")
    stack.start_service("worker-2")
    if defect == "no_lease_expiry":
        wait_for(lambda: sum(t["state"] == "done" for t in tasks(stack, job_id)) == 3, what="the other tasks")
        time.sleep(3 * stack.timing["lease_s"])
        stuck = tasks(stack, job_id)[1]
        assert stuck["state"] == "running" and stuck["worker"] == "worker-1"
        return
    wait_for(lambda: state_is(stack, job_id, "done"), timeout=15, what="job done after the reaper")
    calls = [c for c in generate_calls(stack) if c.item_id == victim]
    assert len(calls) == 2 and len({c.idempotency_key for c in calls}) == 1
    results = sql(stack, "SELECT task_id::text, written_by FROM task_results")
    assert len(results) == 4 and len({r["task_id"] for r in results}) == 4
    assert [r["written_by"] for r in results if r["task_id"] == victim] == ["worker-2"]
    assert tasks(stack, job_id)[1]["deliveries"] == 2


@pytest.mark.parametrize("defect", [None, "in_memory_queue"])
def test_broker_restart_keeps_queued_jobs(make_stack: Callable[..., LocalStack], defect: str | None) -> None:
    stack = make_stack(defects=(defect,) if defect else (), services=["api"])
    faults = Faults(stack, NoHistory())
    jobs = [create(stack, 3) for _ in range(3)]
    with api(stack) as c:
        assert c.get("/metrics").json()["queue_depth"] == 9
    assert faults.queue_store_crash() == "broker"
    faults.queue_store_restart()
    with api(stack) as c:
        depth = wait_for(
            lambda: c.get("/healthz").status_code == 200 and c.get("/metrics").json(), what="api"
        )
    stack.start_service("worker-1")
    if defect == "in_memory_queue":
        assert depth["queue_depth"] == 0
        time.sleep(2)
        assert all(job(stack, j)["state"] == "pending" for j in jobs)
        return
    assert depth["queue_depth"] == 9
    for j in jobs:
        wait_for(lambda j=j: state_is(stack, j, "done"), timeout=15, what=f"job {j} done")


@pytest.mark.parametrize("defect", [None, "no_fencing"])
def test_worker_that_lost_its_lease_writes_nothing(
    make_stack: Callable[..., LocalStack], defect: str | None
) -> None:
    stack = make_stack(defects=(defect,) if defect else (), services=["api"], provider_timeout_s=10.0)
    faults = Faults(stack, NoHistory())
    job_id = create(stack, 1)
    only = tasks(stack, job_id)[0]["task_id"]
    with stack.provider.barrier(only) as held:
        stack.start_service("worker-1")
        held.wait(timeout=10)
        faults.pause("worker-1")  # frozen inside the call: its lease runs out
        stack.start_service("worker-2")  # worker-2's reaper re-enqueues the task, worker-2 takes it
        held.wait(timeout=15, count=2)
    wait_for(lambda: state_is(stack, job_id, "done"), timeout=10, what="worker-2 finishing")
    faults.resume("worker-1")
    # worker-1 wakes up with the provider's answer in hand and tries to finish the task: its log says
    # how that went (written without the fence, refused with it), however long it takes to wake
    outcome = "lease_lost" if defect is None else "task_finished"
    wait_for(
        lambda: [e for e in log_events(stack, "worker-1", outcome) if e.get("task_id") == only],
        timeout=60,
        what=f"worker-1's {outcome} once resumed",
    )
    results = sql(stack, "SELECT written_by FROM task_results ORDER BY result_id")
    if defect is None:
        assert [r["written_by"] for r in results] == ["worker-2"]
    else:
        assert sorted(r["written_by"] for r in results) == ["worker-1", "worker-2"]


@pytest.mark.parametrize("defect", [None, "retry_reprocesses_all"])
def test_retry_failed_calls_only_failed_tasks(
    make_stack: Callable[..., LocalStack], defect: str | None
) -> None:
    stack = make_stack(defects=(defect,) if defect else (), services=["api"])
    job_id = create(stack, 5)
    bad = [t["task_id"] for t in tasks(stack, job_id)[1:3]]
    rules = [stack.provider.add_rule(b, status=422) for b in bad]
    stack.start_service("worker-1")
    wait_for(lambda: state_is(stack, job_id, "partially_done"), what="partially_done")
    failed = [t for t in tasks(stack, job_id) if t["state"] == "error"]
    assert {t["task_id"] for t in failed} == set(bad)
    assert all(t["error"] == {"kind": "provider_4xx", "http_status": 422, "message": t["error"]["message"]}
               for t in failed)  # fmt: skip
    assert "2 tasks failed due to provider 422" in job(stack, job_id)["summary"]
    for r in rules:
        stack.provider.remove_rule(r)
    before = len(generate_calls(stack))
    with api(stack) as c:
        assert c.post(f"/api/jobs/{job_id}/retry-failed").status_code == 200
    wait_for(lambda: state_is(stack, job_id, "done"), what="done after retry")
    wait_for(lambda: all(t["state"] == "done" for t in tasks(stack, job_id)), what="all tasks done")
    new_calls = generate_calls(stack)[before:]
    if defect is None:
        assert sorted(c.item_id for c in new_calls) == sorted(bad)
        assert [t["retries"] for t in tasks(stack, job_id)] == [0, 1, 1, 0, 0]
    else:
        assert len(new_calls) == 5
