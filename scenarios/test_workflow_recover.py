"""Workflow recovery (seeds 002-004): recover from the last checkpoint, owner or admin only; an
interrupted run detected by inactivity and resumed from stored results; the admin attention list
(TEST-WR-003, TEST-WR-006, TEST-WR-008).

Seed 002, AC 3 and 5: "POST /api/v1/workflows/{id}/recover ... attempts recovery from last
checkpoint", "can only recover from Failed state", "only workflow owner or admin"; "the admin
dashboard shows workflows needing attention" with "detailed failure reason display". Seed 003:
runs "in running status with no activity" are detected as interrupted; resume "skips already-
completed steps" and "rebuilds the StepContext from completed step results". Seed 004: "Manual
Intervention Triggers".
"""

from __future__ import annotations

import time

import pytest

from harness.scenario import ScenarioRun
from harness.target.workflow_client import WorkflowClient, WorkflowView
from harness.workflows import (
    bound,
    call_step_held,
    contract,
    start_scripted,
    step_calls,
    wait_state,
    workflows,
)
from harness.workload import poll_until


def context_rebuilt(audit: ScenarioRun, view: WorkflowView) -> tuple[bool, dict[str, object]]:
    """Whether the call step's result was built from the first step's stored result."""
    steps = contract(audit).steps
    if not steps.context:
        audit.unknown("target has no workflow.steps.context")
    got = (view.steps[steps.call].result or {}).get(steps.context["step_field"])
    want = (view.steps[steps.first].result or {}).get(steps.context["from_field"])
    return got is not None and got == want, {"call_step_saw": got, "first_step_stored": want}


def recovered_from_checkpoint(
    audit: ScenarioRun, wfc: WorkflowClient, wid: str, *, since: float, name: str
) -> WorkflowView:
    """After a recover at ``since``: the workflow completes without calling completed steps again."""
    c = contract(audit)
    final = wait_state(audit, wfc, wid, "completed", "failed", "interrupted", timeout=bound(audit))
    first_again = len(step_calls(audit, wfc, wid, c.steps.first, since=since))
    call_again = len(step_calls(audit, wfc, wid, c.steps.call, since=since))
    audit.evidence(
        f"{name}.after_recover",
        f"{final.state}; calls since: {c.steps.first} {first_again}, {c.steps.call} {call_again}",
        expected=f"completed; {c.steps.first} 0, {c.steps.call} 1",
    )
    audit.expect(f"{name}.completed", final.state == "completed", detail={"state": final.state})
    audit.expect(
        f"{name}.completed_steps_not_rerun",
        first_again == 0 and call_again == 1,
        detail={"first_step_calls": first_again, "call_step_calls": call_again},
    )
    ok, detail = context_rebuilt(audit, final)
    audit.evidence(f"{name}.context", detail["call_step_saw"], expected=detail["first_step_stored"])
    audit.expect(f"{name}.context_rebuilt_from_stored_results", ok, detail=detail)
    return final


@pytest.mark.audit(
    id="TEST-WR-003",
    needs=(
        "services.api",
        "services.worker",
        "workflow",
    ),
)
def test_wr_003_recover_from_checkpoint_owner_or_admin(audit: ScenarioRun) -> None:
    # Given two failed workflows (their provider step rejected), A for the owner, B for the admin.
    c = contract(audit)  # a target without workflows: unknown, nothing started
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    wfc = workflows(audit)
    if c.auth.other_user is None or c.auth.admin is None:
        audit.unknown("target has no workflow.auth.other_user / workflow.auth.admin")
    a, rules_a = start_scripted(audit, wfc, {c.steps.call: [{"status": 422}]}, timeout=bound(audit))
    b, rules_b = start_scripted(
        audit, wfc, {c.steps.call: [{"status": 422}]}, timeout=bound(audit), after=[a]
    )
    for wid in (a, b):
        wait_state(audit, wfc, wid, "failed", timeout=bound(audit))

    # When somebody without credentials, then another user, ask to recover A.
    calls_before = len(step_calls(audit, wfc, a, c.steps.call))
    anonymous, other = wfc.recover(a, who=None), wfc.recover(a, who="other")
    audit.evidence(
        "recover_statuses",
        {"no credentials": anonymous.status, "other user": other.status},
        expected={"no credentials": 401, "other user": 403},
    )
    audit.expect(
        "unauthenticated_recover_refused", anonymous.status == 401, detail={"status": anonymous.status}
    )
    audit.expect("non_owner_recover_forbidden", other.status == 403, detail={"status": other.status})
    still = wfc.get(a)
    calls_after = len(step_calls(audit, wfc, a, c.steps.call))
    audit.expect(
        "refused_recover_changes_nothing",
        still.state == "failed" and calls_after == calls_before,
        detail={"state": still.state, "calls_before": calls_before, "calls_after": calls_after},
    )

    # Then the owner recovers A and the admin recovers B, once the provider accepts the input again:
    # each resumes from its last checkpoint (completed steps are not run again).
    for rule in rules_a[c.steps.call] + rules_b[c.steps.call]:
        audit.provider.remove_rule(rule)
    for wid, who, name in ((a, "owner", "owner"), (b, "admin", "admin")):
        since = time.monotonic()
        answer = wfc.recover(wid, who=who)  # type: ignore[arg-type]
        audit.expect(f"{name}.recover_accepted", answer.ok, detail={"status": answer.status})
        recovered_from_checkpoint(audit, wfc, wid, since=since, name=name)

    # And only a failed (or interrupted) workflow can be recovered: a completed one is refused.
    again = wfc.recover(a, who="owner")
    audit.evidence("recover_completed_workflow", again.status, expected=409)
    audit.expect("recover_only_from_failed", again.status == 409, detail={"status": again.status})
    audit.conclude()


@pytest.mark.audit(
    id="TEST-WR-006",
    needs=(
        "services.api",
        "services.worker*2",
        "workflow",
    ),
)
def test_wr_006_inactive_run_detected_and_resumed(audit: ScenarioRun) -> None:
    # Given a workflow inside its provider step (the call held), and its only worker SIGKILLed.
    c = contract(audit)  # a target without workflows: unknown, nothing started
    w1, w2 = audit.workers(2)
    audit.stack.start(services=[audit.api, w1])
    wfc = workflows(audit)
    with call_step_held(audit, wfc, timeout=bound(audit)) as (wid, _held):
        before = wfc.get(wid)
        audit.faults.kill(w1)
        killed_at = time.monotonic()

    # When nothing happens for the inactivity threshold (our bound: threshold + a lease + 2 s).
    limit = c.timing.inactivity_s + audit.stack.timing["lease_s"] + 2.0
    seen = poll_until(lambda: (v := wfc.get(wid, who="admin")).state == "interrupted" and v, timeout=limit)
    took = round(time.monotonic() - killed_at, 2) if seen else None
    audit.evidence("interrupted_after_s", took, expected=f"~{c.timing.inactivity_s} (< {limit:.1f})")
    audit.expect("inactive_run_detected", bool(seen), detail={"bound_s": limit, "state": wfc.get(wid).state})
    if not seen:
        audit.conclude()
    assert seen
    audit.expect("interruption_has_reason", bool(seen.failure_reason), detail={"reason": seen.failure_reason})

    # Then a worker comes back, the owner resumes the run: completed steps are skipped and the
    # resumed step is built from the stored results.
    audit.stack.start_service(w2)
    since = time.monotonic()
    answer = wfc.recover(wid)
    audit.expect("resume_accepted", answer.ok, detail={"status": answer.status})
    final = recovered_from_checkpoint(audit, wfc, wid, since=since, name="resume")
    first = c.steps.first
    kept = final.steps[first].result == before.steps[first].result
    audit.expect(
        "stored_results_kept",
        kept,
        detail={"before": before.steps[first].result, "after": final.steps[first].result},
    )
    audit.conclude()


@pytest.mark.audit(
    id="TEST-WR-008",
    needs=(
        "services.api",
        "services.worker",
        "workflow",
    ),
)
def test_wr_008_attention_list_with_failure_reasons(audit: ScenarioRun) -> None:
    # Given three workflows: A's provider step rejected, B's optional step rejected, C healthy.
    c = contract(audit)  # a target without workflows: unknown, nothing started
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    wfc = workflows(audit)
    failing = {"A": c.steps.call, "B": c.steps.optional or c.steps.call}
    ids: dict[str, str] = {}
    for k, step in failing.items():
        script = {step: [{"status": 422}]}
        ids[k] = start_scripted(audit, wfc, script, timeout=bound(audit), after=list(ids.values()))[0]
    ids["C"] = wfc.start_id()
    states = {
        k: wait_state(audit, wfc, w, "failed", "completed", timeout=bound(audit)).state
        for k, w in ids.items()
    }
    audit.evidence("states", states, expected={"A": "failed", "B": "failed", "C": "completed"})

    # When an admin opens the list of workflows needing attention (and a plain user tries to).
    rows = wfc.attention_rows()
    refused = wfc.attention(who="owner")

    # Then both failed workflows are listed, each with a reason naming the failed step; C is not.
    reasons = {
        k: str(rows[w].get(c.fields.attention_reason) or "") if w in rows else None for k, w in ids.items()
    }
    audit.evidence(
        "reasons",
        reasons,
        expected={"A": f"... {failing['A']} ...", "B": f"... {failing['B']} ...", "C": None},
    )
    for k in ("A", "B"):
        audit.expect(
            f"{k}_listed_with_reason",
            bool(reasons[k]) and failing[k] in str(reasons[k]),
            detail={"workflow": ids[k], "row": rows.get(ids[k])},
        )
    audit.expect("healthy_workflow_not_listed", reasons["C"] is None, detail={"row": rows.get(ids["C"])})
    audit.evidence("attention_for_non_admin", refused.status, expected=403)
    audit.expect("attention_admin_only", refused.status in (401, 403), detail={"status": refused.status})
    audit.conclude()
