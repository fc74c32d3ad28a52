"""rqtarget end to end: a job's tasks complete once each, idempotent create, health, metrics."""

from __future__ import annotations

from collections.abc import Callable

from harness.stack.local import LocalStack
from tests.rqtarget.helpers import api, create, generate_calls, job, sql, state_is, tasks, wait_for


def test_job_completes_once_per_task(make_stack: Callable[..., LocalStack]) -> None:
    stack = make_stack()
    job_id = create(stack, 6)
    wait_for(lambda: state_is(stack, job_id, "done"), what="job done")
    listed = tasks(stack, job_id)
    assert [t["position"] for t in listed] == list(range(1, 7))
    assert all(
        t["state"] == "done" and t["output"] and t["worker"] in ("worker-1", "worker-2") for t in listed
    )
    assert job(stack, job_id)["progress"]["done"] == 6
    calls = generate_calls(stack)
    assert sorted(c.item_id for c in calls) == sorted(t["task_id"] for t in listed)
    assert len(sql(stack, "SELECT 1 FROM task_results")) == 6
    with api(stack) as c:
        assert c.get("/healthz").json()["boot_id"]
        assert c.get("/metrics").json()["queue_depth"] == 0
