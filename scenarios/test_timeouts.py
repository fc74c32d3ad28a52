"""Reliability & Resilience Audit (seed 001), task 3: timeouts (TEST-RR-T01, TEST-RR-T02).

Both scenarios bound their own wait: a target without the timeout under test never ends the call
or the job, so the harness gives up at a few times the configured timeout and fails with numbers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from harness.checkers.ledger import exactly_once
from harness.errors import ObservationMissing, Undecidable
from harness.scenario import ScenarioRun
from harness.stack.timing import prefer, require_wait
from harness.target.client import ItemView, TargetClient
from harness.workload import (
    TERMINAL,
    ids_in_state,
    item_error,
    items_by_id,
    items_by_seq,
    ledger,
    log_events,
    poll_until,
    positions,
    settle_timeout,
    work_calls,
)

ALERT_LEVELS = {"error", "critical", "fatal"}
#: TEST-RR-T02's batch deadline, set for the scenario when the target has one
DEADLINE_S = 3.0
#: the longest deadline of a running stack the scenario waits for (twice, plus a second)
MAX_WAITED_DEADLINE_S = 60.0
#: how long TEST-RR-T02 waits for anything to end the stuck item on a target without a deadline
NO_DEADLINE_BOUND_S = 60.0


def _call(audit: ScenarioRun, nth: int) -> dict[str, Any] | None:
    return next((e for e in work_calls(audit) if e.get("nth") == nth), None)


def _ended(audit: ScenarioRun, nth: int) -> dict[str, Any] | None:
    call = _call(audit, nth)
    return call if call and call.get("answered_at") is not None else None


def _terminal(client: TargetClient, batch_id: str) -> str | None:
    state = client.batch_state(batch_id)
    return state if state in TERMINAL else None


def _duration(entry: dict[str, Any]) -> float:
    return round(float(entry["answered_at"]) - float(entry["arrived_at"]), 3)


def _item_path(audit: ScenarioRun, batch_id: str) -> str:
    """The item states the store recorded, in order (evidence only: none when it keeps no history)."""
    try:
        return " -> ".join(t.to_state for t in audit.observe.transitions(batch_id))
    except ObservationMissing as exc:
        return f"not observed ({exc})"


@pytest.mark.audit(
    id="TEST-RR-T01",
    needs=("services.api", "services.worker", "observe.items", "database.observations.transitions?"),
)
def test_rr_t01_provider_call_times_out(audit: ScenarioRun) -> None:
    # Given one worker and a provider that holds every call without answering (a 120 s hang). The
    # job deadline should outlast every attempt, or it (not the call timeout) ends the item: the
    # harness sets one that does; a running stack keeps its own (``t01_plan``).
    (worker,) = audit.workers(1)
    t = audit.stack.timing
    attempts_s = t["max_attempts"] * (2 * float(t["provider_timeout_s"]) + 1) + 5
    audit.stack.start(
        services=[audit.api, worker], timing={"batch_deadline_s": prefer(attempts_s, at_least=0.0)}
    )
    timing = audit.stack.timing
    timeout_s = float(timing["provider_timeout_s"])
    ends_by = t01_plan(timing, has_deadline=audit.stack.target.timing.batch_deadline_s is not None)
    client = audit.client()
    with audit.provider.rule(hang=True):
        # When a one-item batch calls it.
        batch_id = client.batch_id_of(client.create_batch(1))
        arrived = poll_until(lambda: _call(audit, 1), timeout=settle_timeout(audit, 1), interval=0.1)
        # Then the target gives the call up; our own bound is 3x its timeout (no hang here).
        first = (
            poll_until(lambda: _ended(audit, 1), timeout=3 * timeout_s, interval=0.05) if arrived else None
        )
        audit.evidence("first_call_ended", first is not None, expected=True)
        audit.expect(
            "call_ends_within_bound",
            first is not None,
            detail={"bound_s": 3 * timeout_s, "call_arrived": bool(arrived)},
        )
        final, after_first = None, None
        if first is not None:  # the item leaves processing; every attempt hangs: it ends failed
            # after its retries, or (a shorter deadline) at the deadline
            after_first = poll_until(lambda: _left_processing(client, batch_id), timeout=timeout_s + 5)
            bound = timing["max_attempts"] * (2 * timeout_s + 1) + 5
            if ends_by != "attempts":
                bound = min(bound, float(timing["batch_deadline_s"]) + timeout_s + 5)
            final = poll_until(lambda: _terminal(client, batch_id), timeout=bound)

    # Each hung call ended within 2x the timeout, by the target closing the connection.
    calls = [e for e in work_calls(audit) if e.get("answered_at") is not None]
    durations = [_duration(e) for e in calls]
    audit.evidence("call_durations_s", durations, expected=f"<= {2 * timeout_s} each")
    audit.expect(
        "timeout_within_2x",
        bool(calls) and max(durations) <= 2 * timeout_s,
        detail={"durations_s": durations, "limit_s": 2 * timeout_s},
    )
    outcomes = sorted({str(e.get("outcome")) for e in calls})
    audit.evidence("connection_outcomes", outcomes, expected=["aborted"])
    audit.expect("connection_released", outcomes == ["aborted"], detail={"outcomes": outcomes})
    # The item left processing (retrying, then failed; or the deadline's state), never stuck.
    item = items_by_seq(client, batch_id).get(1)
    state = item.state if item else None
    ended = ("failed", "retrying") if ends_by == "attempts" else ("failed", "retrying", "timeout")
    audit.evidence("item_state", state, expected=" or ".join(ended))
    audit.expect(
        "item_not_stuck",
        final is not None and state in ended,
        detail={"batch": final, "item": state, "ended_by": ends_by},
    )
    path = _item_path(audit, batch_id)
    ends = "failed" if ends_by == "attempts" else "timeout (the batch deadline)"
    audit.evidence("item_path", path, expected=f"... processing -> retrying ... -> {ends}")
    # Its error says "timeout": read once the expired call was recorded (before a deadline rewrites it).
    with audit.deciding("error_classified_timeout"):
        if ends_by == "deadline":
            raise Undecidable(
                f"timing.batch_deadline_s: this stack's batch deadline ({timing['batch_deadline_s']} s) ends "
                f"a hung call before its provider timeout ({timeout_s} s) can: no call times out before "
                "the item is the deadline's, so the timeout's classification cannot be seen",
                field="timing.batch_deadline_s",
            )
        recorded = after_first if ends_by == "first_attempt" else item
        if ends_by == "first_attempt" and (recorded is None or recorded.state not in ("retrying", "failed")):
            raise Undecidable(
                f"timing.batch_deadline_s: the {timing['batch_deadline_s']} s batch deadline ended the item "
                f"before its timed-out call was recorded (state {recorded.state if recorded else None})",
                field="timing.batch_deadline_s",
            )
        error = item_error(audit, recorded) if recorded else ""
        audit.evidence("item_error", error, expected="names timeout")
        audit.expect("error_classified_timeout", "timeout" in error.lower(), detail={"error": error})
    attempts = timing["max_attempts"]
    calls_expected = attempts if ends_by == "attempts" else f"<= {attempts} (until the batch deadline)"
    audit.evidence("provider_calls", len(work_calls(audit)), expected=calls_expected)
    audit.conclude()


def t01_plan(timing: Mapping[str, Any], *, has_deadline: bool) -> str:
    """What ends TEST-RR-T01's item on a stack with ``timing``: ``attempts`` (no deadline, or one that
    outlasts every attempt), ``first_attempt`` (the deadline ends it, but only after its first call
    timed out: the timeout is read from the item then), or ``deadline`` (the deadline is not clearly
    longer than one call's timeout: no call is seen to time out before it; the error classification
    is ``unknown``, naming it). A wait past the budget for a running stack is ``unknown`` at once."""
    timeout_s, attempts = float(timing["provider_timeout_s"]), int(timing["max_attempts"])
    require_wait("provider_timeout_s", attempts * (timeout_s + 1), why="every attempt of a hung call")
    if not has_deadline:
        return "attempts"
    deadline = float(timing["batch_deadline_s"])
    if deadline >= attempts * (2 * timeout_s + 1) + 5:
        return "attempts"
    return "first_attempt" if deadline > 1.5 * timeout_s + 2 else "deadline"


def _left_processing(client: TargetClient, batch_id: str) -> ItemView | None:
    """The batch's first item once it is no longer processing (its call's outcome recorded)."""
    item = items_by_seq(client, batch_id).get(1)
    return item if item is not None and item.state not in ("processing", "queued") else None


def _alerts(audit: ScenarioRun, *, correlation_id: str, batch_id: str) -> list[dict[str, Any]]:
    """Error-level log lines of the batch: found by its correlation id, else by its batch id."""
    logs = audit.stack.target.logs
    if logs.level_field is None:
        raise ObservationMissing("logs.level_field")
    if not any(audit.stack.log_path(s) for s in audit.stack.started):
        raise ObservationMissing("logs.paths", "no log of the target's services is readable")
    by = {"batch": batch_id} if logs.correlation_field is None and logs.batch_field else {}
    return [
        e
        for service in audit.stack.started
        for e in log_events(audit, service, **(by or {"correlation": correlation_id}))
        if str(e.get(logs.level_field, "")).lower() in ALERT_LEVELS
    ]


@pytest.mark.audit(id="TEST-RR-T02", needs=("services.api", "services.worker", "observe.items"))
def test_rr_t02_job_deadline_fires(audit: ScenarioRun) -> None:
    # Given one worker, a 3 s batch deadline, and the 5th call's answer trickling a byte every 100 ms
    # (faster than the per-read timeout, so only a job-level deadline can stop it). A target file
    # that says its system has no deadline (``timing.batch_deadline_s: null``) gets no override: the
    # harness then waits a generous bound for anything to end the stuck item.
    n, trickle_at = 20, 5
    (worker,) = audit.workers(1)
    has_deadline = audit.stack.target.timing.batch_deadline_s is not None
    # a short deadline where the harness sets it; a running stack's own, if it can be waited for
    overrides = (
        {"batch_deadline_s": prefer(DEADLINE_S, at_most=MAX_WAITED_DEADLINE_S)} if has_deadline else {}
    )
    audit.stack.start(services=[audit.api, worker], timing=overrides)
    deadline_s = audit.stack.timing.get("batch_deadline_s") if has_deadline else None
    timeout_s = float(audit.stack.timing["provider_timeout_s"])
    bound = 2 * float(deadline_s) + 1 if deadline_s is not None else max(NO_DEADLINE_BOUND_S, 10 * timeout_s)
    client = audit.client()
    cid = f"rr-t02-{audit.seed}"
    with audit.provider.rule(nth=trickle_at, trickle_ms=100) as rule_id:
        created_at = time.monotonic()
        batch_id = client.batch_id_of(client.create_batch(n, correlation_id=cid))
        # When a worker is stuck reading that answer; our own bound is 2x the deadline (+1 s), or
        # NO_DEADLINE_BOUND_S without one.
        final = poll_until(lambda: _terminal(client, batch_id), timeout=bound)
        ended_at = time.monotonic()

    # Then something ended the stuck item: the job deadline fired (the job ended timeout or failed,
    # not before the deadline) and the stuck item is no longer in flight.
    def trickle_call(*, ended: bool) -> dict[str, Any] | None:
        call = next((e for e in work_calls(audit) if e.get("rule_id") == rule_id), None)
        return call if call and (not ended or call.get("answered_at") is not None) else None

    # the job may end (another worker's sweep) a moment before the stuck worker drops its call
    if final is not None:
        poll_until(lambda: trickle_call(ended=True), timeout=1 + timeout_s, interval=0.05)
    trickle = trickle_call(ended=False) or {}
    if not trickle and final in ("timeout", "failed"):
        # The deadline fired before the worker reached the trickling call (a slow machine, or a
        # target slower than the deadline): nothing was stuck, so nothing here tells a deadline
        # that ends stuck work from one that only ends slow batches. Unknown, never a false fail.
        raise Undecidable(
            f"timing.batch_deadline_s: the batch ended {final} before call {trickle_at} (the held one) "
            "was made; nothing was stuck for the deadline to end"
        )
    stuck_id = str(trickle.get("item_id"))
    items = items_by_id(client, batch_id)
    stuck = items.get(stuck_id)
    elapsed = round(ended_at - created_at, 2)
    audit.evidence("job_state", final, expected="timeout or failed")
    audit.evidence("job_ended_after_s", elapsed if final else None, expected=f"~{deadline_s or 'a deadline'}")
    audit.evidence("stuck_item", stuck and f"{stuck.seq}: {stuck.state}", expected="timeout or failed")
    audit.expect(
        "job_deadline_fired",
        final in ("timeout", "failed")
        and stuck is not None
        and stuck.state in ("timeout", "failed")
        and (deadline_s is None or elapsed >= float(deadline_s)),
        detail={
            "state": final,
            "stuck_item": stuck and stuck.state,
            "elapsed_s": elapsed,
            "bound_s": bound,
            "deadline_s": deadline_s,
        },
    )
    # The trickling call outlived the per-call timeout: only the deadline ended it (and released it).
    ended = trickle.get("answered_at")
    ended_after = round(ended - created_at, 2) if ended is not None else None
    audit.evidence("trickling_call_lasted_s", ended and _duration(trickle), expected=f"> {timeout_s}")
    audit.evidence(
        "trickling_call_ended_after_s", ended_after, expected=f">= deadline {deadline_s or '(none declared)'}"
    )
    audit.expect(
        "trickle_ended_by_deadline",
        ended_after is not None
        and (deadline_s is None or ended_after >= float(deadline_s) - 0.05)
        and trickle.get("outcome") == "aborted",
        detail={"ended_after_s": ended_after, "outcome": str(trickle.get("outcome"))},
    )
    # The items completed before the deadline (those whose call succeeded) are preserved with their
    # results; nothing stays processing.
    entries = ledger(audit)
    succeeded = {
        str(e["item_id"]) for e in work_calls(audit) if e.get("outcome") == "ok" and e.get("status") == 200
    }
    done = ids_in_state(items.values(), "completed")
    audit.evidence("completed_items", positions(items, done), expected=positions(items, succeeded))
    audit.expect(
        "completed_items_preserved",
        bool(succeeded) and set(done) == succeeded,
        detail={"completed": positions(items, done), "called_successfully": positions(items, succeeded)},
    )
    audit.check(exactly_once(entries, done))
    audit.check(audit.invariants().check("completed_without_output", batch_id=batch_id))
    processing = positions(items, ids_in_state(items.values(), "processing"))
    audit.expect(
        "nothing_left_processing", final is not None and not processing, detail={"processing": processing}
    )
    # An alert: an error-level log line for the batch.
    with audit.deciding("alert_logged"):
        alerts = _alerts(audit, correlation_id=cid, batch_id=batch_id)
        event_field = audit.stack.target.logs.event_field
        audit.evidence(
            "alert",
            alerts[0].get(event_field) if alerts else None,
            expected="an error-level log line for the batch",
        )
        audit.expect("alert_logged", bool(alerts), detail={"alerts": len(alerts)})
    audit.conclude()
