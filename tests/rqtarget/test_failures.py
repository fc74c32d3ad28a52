"""rqtarget's failure handling: poison tasks dead-lettered, provider timeouts classified, the job
deadline against a trickling answer, cancel, and an API restart that loses nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from harness.faults.injector import Faults
from harness.faults.provider.model import Outcome
from harness.stack.local import LocalStack
from tests.rqtarget.helpers import NoHistory, api, create, job, log_events, state_is, tasks, wait_for

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("defect", [None, "no_dead_letter"])
def test_poison_task_is_dead_lettered(make_stack: Callable[..., LocalStack], defect: str | None) -> None:
    stack = make_stack(defects=(defect,) if defect else (), services=["api"])
    faults = Faults(stack, NoHistory())
    max_deliveries = int(stack.timing["max_deliveries"])
    job_id = create(stack, 3)
    poison = tasks(stack, job_id)[0]["task_id"]
    with stack.provider.barrier(poison) as held:
        for delivery in range(1, max_deliveries + 1):  # the poison task kills its worker every time
            stack.start_service("worker-1")
            held.wait(timeout=15, count=delivery)
            faults.kill("worker-1")
        stack.start_service("worker-1")
        if defect is None:
            wait_for(lambda: state_is(stack, job_id, "partially_done"), timeout=15, what="dead-lettered")
            dead = tasks(stack, job_id)[0]
            assert dead["state"] == "dead" and dead["deliveries"] == max_deliveries
            assert dead["error"]["kind"] == "dead_letter"
        else:
            held.wait(timeout=15, count=max_deliveries + 1)  # delivered yet again
            assert tasks(stack, job_id)[0]["state"] == "running"


@pytest.mark.parametrize("defect", [None, "no_provider_timeout"])
def test_hanging_provider_times_out(make_stack: Callable[..., LocalStack], defect: str | None) -> None:
    stack = make_stack(
        defects=(defect,) if defect else (), services=["api", "worker-1"], provider_timeout_s=0.5
    )
    job_id = create(stack, 1)
    hung = tasks(stack, job_id)[0]["task_id"]
    with stack.provider.rule(hung, hang=True):
        if defect is None:
            wait_for(lambda: state_is(stack, job_id, "error"), timeout=10, what="timeout classified")
            task = tasks(stack, job_id)[0]
            assert task["error"]["kind"] == "timeout" and task["attempts"] == int(
                stack.timing["max_attempts"]
            )
        else:
            # the call is in its hang first (an observed point), then six of its timeouts pass
            wait_for(
                lambda: [
                    e for e in stack.provider.ledger() if e.item_id == hung and e.outcome == Outcome.HANG
                ],
                timeout=60,
                what="the call hanging at the provider",
            )
            time.sleep(6 * float(stack.timing["provider_timeout_s"]))
            assert tasks(stack, job_id)[0]["state"] == "running"


def test_job_deadline_stops_a_trickle(make_stack: Callable[..., LocalStack]) -> None:
    # Tasks 1 and 2 take ~0.1 s each; a task claimed after the deadline is timed out unrun, so the
    # deadline leaves room for a loaded machine to claim them (2 s did not, at a load average of 14).
    # The trickle on task 3 never ends by itself: only the deadline stops it.
    stack = make_stack(services=["api", "worker-1"], batch_deadline_s=6.0)
    job_id = create(stack, 3)
    slow = tasks(stack, job_id)[2]["task_id"]
    with stack.provider.rule(slow, trickle_ms=100):
        wait_for(lambda: state_is(stack, job_id, "timed_out"), timeout=60, what="job timed out")
    listed = tasks(stack, job_id)
    assert [t["state"] for t in listed] == ["done", "done", "timed_out"]


def test_cancel_stops_pending_tasks(make_stack: Callable[..., LocalStack]) -> None:
    stack = make_stack(services=["api"])
    job_id = create(stack, 4)
    with api(stack) as c:
        assert c.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    stack.start_service("worker-1")
    # the worker has taken every delivery off the queue and skipped it: nothing left it could still call
    wait_for(lambda: len(log_events(stack, "worker-1", "delivery_skipped")) == 4, timeout=60,
             what="worker-1 skipping the 4 cancelled deliveries")  # fmt: skip
    assert job(stack, job_id)["state"] == "cancelled"
    assert {t["state"] for t in tasks(stack, job_id)} == {"cancelled"}
    assert not [e for e in stack.provider.ledger() if e.kind == "generate"]


def test_api_restart_keeps_state_and_shows_new_boot(make_stack: Callable[..., LocalStack]) -> None:
    stack = make_stack()
    faults = Faults(stack, NoHistory())
    with api(stack) as c:
        boot = c.get("/healthz").json()["boot_id"]
    job_id = create(stack, 5, key="same-key")
    wait_for(lambda: state_is(stack, job_id, "done"), what="done")
    faults.kill("api")
    faults.restart("api")
    with api(stack) as c:
        assert c.get("/healthz").json()["boot_id"] != boot
    assert job(stack, job_id)["progress"]["done"] == 5
    assert create(stack, 5, key="same-key") == job_id  # the key survives the restart too


def test_broker_restart_through_the_faults_api(make_stack: Callable[..., LocalStack]) -> None:
    stack = make_stack()
    faults = Faults(stack, NoHistory())
    faults.restart("broker")  # stop + start on the same port and data dir
    job_id = create(stack, 3)
    wait_for(lambda: state_is(stack, job_id, "done"), timeout=15, what="done after a broker restart")
