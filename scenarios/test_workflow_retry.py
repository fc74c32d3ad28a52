"""Workflow recovery (seeds 002-004), step failures: automatic retry of transient failures, then
``failed`` with a user notification and a manual retry / skip (TEST-WR-001, TEST-WR-002).

Seed 002, AC 1-2: "the system automatically retries up to 3 times, and each retry is logged";
"the workflow transitions to Failed state, I receive notification: 'Step failed after multiple
attempts', and I can manually retry or skip (if optional)". Seed 004: "Automatic Retry: task
retried if retry_count < max_retries"; "Skip Task: user can mark task as completed".
"""

from __future__ import annotations

import pytest

from harness.checkers.ledger import same_idempotency_key
from harness.scenario import ScenarioRun
from harness.workflows import bound, contract, start_scripted, step_calls, wait_state, workflows
from harness.workload import ledger, log_events, log_field


@pytest.mark.audit(
    id="TEST-WR-001",
    needs=(
        "services.api",
        "services.worker",
        "workflow",
    ),
)
def test_wr_001_transient_step_failures_are_retried(audit: ScenarioRun) -> None:
    # Given a workflow whose provider step answers 503 to its first attempts and succeeds on the last.
    c = contract(audit)  # a target without workflows: unknown, nothing started
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    wfc = workflows(audit)
    attempts, call, first = c.timing.step_attempts, c.steps.call, c.steps.first
    failing = [{"attempt": a, "status": 503} for a in range(1, attempts)]
    wid, _ = start_scripted(audit, wfc, {call: failing}, timeout=bound(audit))

    # When the workflow runs.
    final = wait_state(audit, wfc, wid, "completed", "failed", timeout=bound(audit))

    # Then the step was retried without a human up to the limit, and the workflow completed.
    calls = step_calls(audit, wfc, wid, call)
    audit.evidence("step_calls", [e["status"] for e in calls], expected=[503] * (attempts - 1) + [200])
    audit.expect(
        "retried_up_to_the_limit",
        [e["status"] for e in calls] == [503] * (attempts - 1) + [200],
        detail={"statuses": [e["status"] for e in calls]},
    )
    audit.evidence("final", final.state, expected="completed")
    audit.expect(
        "workflow_completed",
        final.state == "completed",
        detail={"state": final.state, "reason": final.failure_reason},
    )
    audit.evidence("first_step_calls", len(step_calls(audit, wfc, wid, first)), expected=1)
    audit.expect("earlier_step_not_repeated", len(step_calls(audit, wfc, wid, first)) == 1)
    audit.check(same_idempotency_key([e for e in ledger(audit) if e in calls]))

    # And each retry is logged with the workflow's correlation id and its attempt number (logs that
    # carry no correlation id: a finding).
    with audit.deciding("each_retry_logged_with_correlation_id"):
        event_field, attempt_field = audit.stack.target.logs.event_field, c.events.attempt_log_field
        cid = final.correlation_id
        log_field(audit, "correlation_field")
        logged = [e for svc in audit.stack.started for e in log_events(audit, svc, correlation=cid)
                  if e.get(event_field) == c.events.retry_log]  # fmt: skip
        numbers = sorted(int(e[attempt_field]) for e in logged if e.get(attempt_field) is not None)
        audit.evidence("retries_logged", numbers, expected=list(range(1, attempts)))
        audit.expect(
            "each_retry_logged_with_correlation_id",
            bool(final.correlation_id) and numbers == list(range(1, attempts)),
            detail={"correlation_id": final.correlation_id, "logged_attempts": numbers},
        )
    audit.conclude()


@pytest.mark.audit(
    id="TEST-WR-002",
    needs=(
        "services.api",
        "services.worker",
        "workflow",
    ),
)
def test_wr_002_exhausted_retries_fail_notify_and_allow_retry_or_skip(audit: ScenarioRun) -> None:
    # Given two workflows: A's provider step fails every attempt (503), B's optional step is rejected.
    c = contract(audit)  # a target without workflows: unknown, nothing started
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    wfc = workflows(audit)
    attempts, call, first, optional = c.timing.step_attempts, c.steps.call, c.steps.first, c.steps.optional
    if optional is None:
        audit.unknown("target has no workflow.steps.optional")
    a, rules_a = start_scripted(audit, wfc, {call: [{"status": 503}]}, timeout=bound(audit))
    b, _ = start_scripted(audit, wfc, {optional: [{"status": 422}]}, timeout=bound(audit), after=[a])

    # When A's retries are exhausted.
    fa = wait_state(audit, wfc, a, "failed", "completed", timeout=bound(audit))

    # Then A is failed after exactly the retry limit, with a reason, and its owner was notified.
    calls_a = len(step_calls(audit, wfc, a, call))
    audit.evidence("failed_after_calls", f"{fa.state} after {calls_a}", expected=f"failed after {attempts}")
    audit.expect(
        "failed_after_retry_limit",
        fa.state == "failed" and calls_a == attempts,
        detail={"state": fa.state, "calls": calls_a},
    )
    step_a = fa.steps.get(call)
    audit.expect(
        "failed_step_and_reason",
        bool(step_a and step_a.state == "failed" and fa.failure_reason),
        detail={"step": step_a.state if step_a else None, "reason": fa.failure_reason},
    )
    notes = [n for n in wfc.notifications(a) if n["kind"] == c.events.step_failed]
    audit.evidence("notification", [n["message"] for n in notes] or "none", expected=f"'{call}' step failed")
    audit.expect(
        "owner_notified_of_step_failure",
        any(call in n["message"] for n in notes),
        detail={"notifications": wfc.notifications(a)},
    )

    # And a required step cannot be skipped, but can be retried by hand once the provider is back.
    skip_required = wfc.skip_step(a, call)
    audit.evidence("skip_required_step", skip_required.status, expected="4xx (refused)")
    audit.expect(
        "required_step_not_skippable",
        400 <= skip_required.status < 500,
        detail={"status": skip_required.status},
    )
    for rule in rules_a[call]:
        audit.provider.remove_rule(rule)
    retry = wfc.retry_step(a, call)
    fa2 = wait_state(audit, wfc, a, "completed", "failed", timeout=bound(audit))
    audit.evidence("manual_retry", f"{retry.status} -> {fa2.state}", expected="2xx -> completed")
    audit.expect(
        "manual_retry_completes",
        retry.ok and fa2.state == "completed",
        detail={"status": retry.status, "state": fa2.state},
    )
    audit.expect(
        "manual_retry_resumes_at_the_step",
        len(step_calls(audit, wfc, a, first)) == 1 and len(step_calls(audit, wfc, a, call)) == attempts + 1,
        detail={
            "first_calls": len(step_calls(audit, wfc, a, first)),
            "call_calls": len(step_calls(audit, wfc, a, call)),
        },
    )

    # And B's optional step, failed, can be skipped: the workflow completes without it.
    fb = wait_state(audit, wfc, b, "failed", "completed", timeout=bound(audit))
    notes_b = [n for n in wfc.notifications(b) if n["kind"] == c.events.step_failed]
    audit.expect(
        "owner_notified_of_optional_failure",
        fb.state == "failed" and bool(notes_b),
        detail={"state": fb.state, "notifications": len(notes_b)},
    )
    skipped = wfc.skip_step(b, optional)
    fb2 = wait_state(audit, wfc, b, "completed", "failed", timeout=bound(audit))
    opt_state = fb2.steps[optional].state if optional in fb2.steps else None
    audit.evidence(
        "skip_optional",
        f"{skipped.status} -> {fb2.state} ({optional}: {opt_state})",
        expected=f"2xx -> completed ({optional}: skipped)",
    )
    audit.expect(
        "optional_step_skipped",
        skipped.ok and fb2.state == "completed" and opt_state == "skipped",
        detail={"status": skipped.status, "state": fb2.state, "step": opt_state},
    )
    audit.conclude()
