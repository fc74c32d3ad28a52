"""Workflow recovery (seeds 002-004), process faults: the server restarts mid-workflow; a workflow
that crashes the server every time; a paused (SIGSTOP) worker (TEST-WR-004, -005, -007).

Seed 002, AC 4: "Given the server restarts mid-workflow, when the server comes back online, then
incomplete workflows are detected, recovery is attempted automatically, and users are notified of
recovery status"; Task 4: "add circuit breaker to prevent infinite recovery loops". Seed 004,
"Worker Unresponsive Recovery": after the grace period "reassign tasks to other workers"; a task
is atomic ("either fully succeeds or fully fails"), so a worker that wakes must not commit again.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.checkers.ledger import same_idempotency_key, successful
from harness.held import answered, cut_short, still_held
from harness.scenario import ScenarioRun
from harness.target.workflow_client import WorkflowClient
from harness.target.workflow_model import WorkflowContract
from harness.workflows import bound, call_step_held, contract, kinds, step_calls, wait_state, workflows
from harness.workload import ledger, log_events, log_offset, poll_until

#: how long the server may take to come back and resume (API start, one step, a worker claim)
RESUME_BOUND_S = 10.0


def crash_server(audit: ScenarioRun, wfc: WorkflowClient, wid: str) -> int:
    """SIGKILL the whole server: its worker and its API. Returns how many recovery notifications the
    owner had before (``restart_server`` waits for the next one)."""
    told = recovery_notes(wfc, wid, contract(audit))
    audit.faults.kill(audit.workers(1)[0])
    audit.faults.kill(audit.api)
    return told


def recovery_notes(wfc: WorkflowClient, wid: str, c: WorkflowContract) -> int:
    """How many times the owner was told what start-up recovery did (resumed, or gave up)."""
    told = (c.events.recovered, c.events.recovery_failed)
    return sum(1 for n in wfc.notifications(wid) if n["kind"] in told)


def restart_server(audit: ScenarioRun, wfc: WorkflowClient, wid: str, told: int) -> None:
    """Start the server again: the API first (its start-up runs recovery), then its worker, once the
    owner has been told what recovery did (or ``RESUME_BOUND_S`` passed without a word).

    A worker running before recovery would take the interrupted step over itself as soon as its lease
    expired, and on a stack with a short lease (a running one keeps its own) that comes first: only
    start-up recovery may resume the step here, whatever the lease.
    """
    c = contract(audit)
    audit.faults.restart(audit.api)
    poll_until(lambda: recovery_notes(wfc, wid, c) > told, timeout=RESUME_BOUND_S)
    audit.faults.restart(audit.workers(1)[0])


@pytest.mark.audit(
    id="TEST-WR-004",
    needs=(
        "services.api",
        "services.worker",
        "workflow",
    ),
)
def test_wr_004_server_restart_recovers_incomplete_workflows(audit: ScenarioRun) -> None:
    # Given a workflow inside its provider step (the call held).
    c = contract(audit)  # a target without workflows: unknown, nothing started
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    wfc = workflows(audit)
    with call_step_held(audit, wfc, timeout=bound(audit)) as (wid, _held):
        # When the server crashes (worker and API SIGKILLed) and comes back.
        told = crash_server(audit, wfc, wid)
        crashed_at = time.monotonic()
    restart_server(audit, wfc, wid, told)

    # Then the workflow is resumed without a human (start-up recovery) and completes.
    done = poll_until(
        lambda: (v := wfc.get(wid, who="admin")).state == "completed" and v, timeout=RESUME_BOUND_S
    )
    took = round(time.monotonic() - crashed_at, 2) if done else None
    audit.evidence("completed_after_crash_s", took, expected=f"< {RESUME_BOUND_S} after the restart")
    final = done or wfc.get(wid, who="admin")
    audit.expect(
        "recovered_automatically", bool(done), detail={"state": final.state, "bound_s": RESUME_BOUND_S}
    )
    first_again = len(step_calls(audit, wfc, wid, c.steps.first, since=crashed_at))
    audit.expect("completed_steps_not_rerun", first_again == 0, detail={"first_step_calls": first_again})

    # And the owner was told about the recovery.
    notes = [n for n in wfc.notifications(wid) if n["kind"] == c.events.recovered]
    audit.evidence("recovery_notification", [n["message"] for n in notes] or "none", expected="one")
    audit.expect("owner_notified_of_recovery", bool(notes), detail={"notifications": wfc.notifications(wid)})
    audit.check(same_idempotency_key(ledger(audit)))
    audit.conclude()


@pytest.mark.audit(
    id="TEST-WR-005",
    needs=(
        "services.api",
        "services.worker",
        "workflow",
    ),
)
def test_wr_005_recovery_attempts_bounded(audit: ScenarioRun) -> None:
    # Given a workflow whose provider step brings the server down every time it runs: the harness
    # crashes the server while each of the step's calls is held.
    c = contract(audit)  # a target without workflows: unknown, nothing started
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    wfc = workflows(audit)
    limit = c.timing.max_recoveries
    with call_step_held(audit, wfc, timeout=bound(audit)) as (wid, _held):
        told = crash_server(audit, wfc, wid)
    item = wfc.provider_item(wid, c.steps.call)
    for attempt in range(2, limit + 2):  # each automatic recovery runs the step again: crash again
        with audit.provider.barrier(item, attempt=attempt) as held:
            restart_server(audit, wfc, wid, told)
            arrived = poll_until(lambda: held.state().arrived > 0, timeout=RESUME_BOUND_S)
            if arrived:
                told = crash_server(audit, wfc, wid)
        if not arrived:
            break
    audit.evidence("crashes_survived", attempt - 1 if arrived else attempt - 2, expected=limit)

    # When the server comes back once more (the recovery limit is used up).
    calls = len(step_calls(audit, wfc, wid, c.steps.call))
    restart_server(audit, wfc, wid, told)
    settled = poll_until(
        lambda: (
            wfc.get(wid, who="admin").state == "failed"
            or len(step_calls(audit, wfc, wid, c.steps.call)) > calls
        ),
        timeout=RESUME_BOUND_S,
    )

    # Then recovery stops: the workflow is failed and needs attention, the step is not run again.
    final = wfc.get(wid, who="admin")
    more = len(step_calls(audit, wfc, wid, c.steps.call)) - calls
    audit.evidence("after_limit", f"{final.state}, {more} more call(s)", expected="failed, 0 more call(s)")
    audit.expect(
        "recovery_stops_at_limit",
        bool(settled) and final.state == "failed" and more == 0,
        detail={"state": final.state, "calls_after_limit": more, "max_recoveries": limit},
    )
    recovered = [n for n in wfc.notifications(wid) if n["kind"] == c.events.recovered]
    gave_up = [n for n in wfc.notifications(wid) if n["kind"] == c.events.recovery_failed]
    audit.evidence(
        "notifications",
        {"recovered": len(recovered), "recovery_failed": len(gave_up)},
        expected={"recovered": limit, "recovery_failed": 1},
    )
    audit.expect("owner_notified_recovery_failed", len(gave_up) == 1, detail={"recovered": len(recovered)})
    listed = wfc.attention_rows().get(wid) if c.attention else None
    audit.expect(
        "listed_for_attention_with_reason",
        bool(listed and listed.get(c.fields.attention_reason)),
        detail={"row": listed},
    )
    audit.conclude()


@pytest.mark.audit(
    id="TEST-WR-007",
    needs=(
        "services.api",
        "services.worker*2",
        "workflow",
    ),
)
def test_wr_007_paused_worker_reassigned_and_cannot_commit(audit: ScenarioRun) -> None:
    # Given two workers, one of them inside the provider step (the call held). Both run from the
    # start: the other must be ready to take the step over as soon as the grace period ends (a
    # worker started later could come after the target's inactivity detection).
    c = contract(audit)  # a target without workflows: unknown, nothing started
    workers = audit.workers(2)
    audit.stack.start(services=[audit.api, *workers])
    wfc = workflows(audit)
    call = c.steps.call
    grace = c.timing.grace_s or float(audit.stack.timing["lease_s"])
    with call_step_held(audit, wfc, timeout=bound(audit)) as (wid, held):
        holder = wfc.get(wid).steps[call].worker
        if holder not in workers:
            audit.unknown(f"the target does not say which worker service holds a step (worker {holder!r})")
        other = next(w for w in workers if w != holder)
        # When the holder is paused (SIGSTOP) inside its call: alive, silent. A paused process
        # cannot give up on its call, whatever its provider timeout, so the call is held only
        # until then; its answer is sent at once and waits in its socket for it to wake.
        audit.faults.pause(str(holder))
        paused_at = time.monotonic()
        if not still_held(held):
            cut_short(audit, f"its worker ({holder}) was paused")
        held.release()
        ended = audit.wait_for("the paused worker's call to be answered", lambda: answered(audit, held.id),
                               timeout=bound(audit))  # fmt: skip
        if not successful(ended):  # it had given up on the call just before it was paused
            cut_short(audit, f"its worker ({holder}) was paused (the call ended {ended.get('outcome')})")

    # Then after the grace period the step is reassigned and the workflow completes without it.
    moved = poll_until(lambda: kinds(wfc.history(wid), c.events.reassign, call), timeout=3 * grace + 3)
    took = round(time.monotonic() - paused_at, 2) if moved else None
    audit.evidence("reassigned_after_s", took, expected=f"~grace ({grace} s), < {3 * grace + 3}")
    audit.expect("step_reassigned", bool(moved), detail={"bound_s": 3 * grace + 3})
    done = wait_state(audit, wfc, wid, "completed", "failed", timeout=bound(audit))
    result_before = done.steps[call].result

    # When the paused worker wakes, with its call's answer waiting for it.
    since = log_offset(audit, str(holder))
    audit.faults.resume(str(holder))

    # Then its late commit is refused: it notices the lost lease, and the step has one commit.
    event_field = audit.stack.target.logs.event_field

    def lost_ownership() -> list[dict[str, Any]]:
        lines = log_events(audit, str(holder), since=since, correlation=done.correlation_id)
        return [e for e in lines if e.get(event_field) == c.events.lost_ownership_log]

    def outcome() -> bool:
        return len(kinds(wfc.history(wid), c.events.commit, call)) > 1 or bool(lost_ownership())

    poll_until(outcome, timeout=bound(audit))
    commits = kinds(wfc.history(wid), c.events.commit, call)
    audit.evidence("commits_of_step", [e["worker"] for e in commits], expected=[other])
    audit.expect(
        "one_commit_by_the_new_holder",
        [e["worker"] for e in commits] == [other],
        detail={"commits": [e["raw"] for e in commits]},
    )
    with audit.deciding("woken_worker_detects_lost_ownership"):
        lost = lost_ownership()
        audit.evidence(
            "woken_worker",
            "lost ownership logged" if lost else "no lost-ownership log",
            expected="lost ownership logged",
        )
        audit.expect("woken_worker_detects_lost_ownership", bool(lost), detail={"worker": holder})
    after = wfc.get(wid)
    audit.expect(
        "result_not_overwritten",
        after.state == "completed" and after.steps[call].result == result_before,
        detail={"before": result_before, "after": after.steps[call].result},
    )
    audit.check(same_idempotency_key(ledger(audit)))
    audit.conclude()
