"""Recovery & Resume Audit (seed 000): interruptions on the server side.

Workers crash, lose their database link or meet a failing provider; states must stay honest
and every item must end with exactly one committed result (TEST-RR-004, -005, -006, -008).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from harness.checkers.ledger import calls_only_for, exactly_once, not_called_again, same_idempotency_key
from harness.scenario import ScenarioRun
from harness.target.client import TargetClient
from harness.workload import (
    item_error,
    items_by_seq,
    ledger,
    log_events,
    log_offset,
    poll_until,
    settle_timeout,
    wait_terminal,
    work_calls,
)

TASK = "Recovery & Resume"
N = 20


# -- group-local helpers ---------------------------------------------------------------------------
def db_batch_state(audit: ScenarioRun, batch_id: str) -> str | None:
    """The batch's state as the target's own store holds it (the ground truth of state)."""
    row = audit.observe.batch(batch_id)
    return row.state if row else None


def db_item(audit: ScenarioRun, item_id: str) -> dict[str, Any]:
    """The item (state, holder, lease token) as the target's store holds it."""
    row = audit.observe.item(item_id)
    return {"state": row.state, "holder": row.holder, "lease_token": row.lease_token} if row else {}


def log_offsets(audit: ScenarioRun) -> dict[str, int]:
    return {s: log_offset(audit, s) for s in audit.stack.started}


def logged_errors(
    audit: ScenarioRun, item_id: str, details: tuple[str, ...], *, since: dict[str, int]
) -> list[dict[str, Any]]:
    """Warning/error log lines about one item, from any service, that carry every one of ``details``."""
    level = audit.stack.target.logs.level_field
    lines = [
        e
        for svc in audit.stack.started
        for e in log_events(audit, svc, since=since.get(svc, 0), item=item_id)
    ]
    return [e for e in lines if str(e.get(level)).lower() in ("warning", "error")
            and all(d in json.dumps(e) for d in details)]  # fmt: skip


@pytest.mark.audit(
    id="TEST-RR-004",
    title="Interrupt batch at item 7/20, resume from item 8",
    task=TASK,
    severity="HIGH",
    needs=(
        "services.api",
        "services.worker",
        "observe.items",
        "database.invariants.duplicate_outputs",
    ),
)
def test_rr_004_batch_resumes_from_checkpoint(audit: ScenarioRun) -> None:
    # Given one worker (so items run in order) and a barrier that holds the 8th provider call.
    (worker,) = audit.workers(1)
    audit.stack.start(services=[audit.api, worker])
    client = audit.client()
    with audit.provider.barrier(nth=8) as held:
        batch_id = client.batch_id_of(client.create_batch(N))
        held.wait(timeout=settle_timeout(audit, N))  # the worker is inside item 8
        before = items_by_seq(client, batch_id)
        done_at_kill = sorted(s for s, v in before.items() if v.state == "completed")
        audit.faults.kill(worker)
        killed_at = time.monotonic()
    audit.evidence(
        "state_at_kill", f"{len(done_at_kill)} done / {N - len(done_at_kill)} remaining", expected="7/13"
    )
    audit.expect(
        "items_1_to_7_completed_before_kill", done_at_kill == list(range(1, 8)), detail={"done": done_at_kill}
    )

    # When the worker is restarted by hand.
    audit.faults.restart(worker)
    final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, N, extra=5))

    # Then processing resumed at item 8 and items 1-7 were never called again.
    items = items_by_seq(client, batch_id)
    seq_by_id = {v.id: s for s, v in items.items()}
    after = [e for e in work_calls(audit) if e["arrived_at"] >= killed_at]
    # The lowest item called after the restart: 8 for a per-item checkpoint, 1 for a batch restart
    # (robust to a target that runs a later item first while item 8's old lease is still held).
    called_after = [seq_by_id[e["item_id"]] for e in after if e["item_id"] in seq_by_id]
    resumed_from = min(called_after) if called_after else None
    audit.evidence("resumed_from_item", resumed_from, expected=8)
    audit.expect("resumed_from_item_8", resumed_from == 8, detail={"resumed_from": resumed_from})
    entries = ledger(audit)
    audit.check(not_called_again(entries, [before[s].id for s in done_at_kill], since=killed_at))
    completed = [v.id for v in items.values() if v.state == "completed"]
    audit.evidence("final", f"{final}, {len(completed)}/{N} completed", expected=f"completed, {N}/{N}")
    audit.expect("batch_completed", final == "completed" and len(completed) == N, detail={"state": final})
    once = audit.check(exactly_once(entries, completed))
    audit.evidence("provider_calls", once.evidence.get("successful_calls"), expected=N)
    audit.check(same_idempotency_key(entries))
    audit.check(audit.invariants().check("duplicate_outputs"))
    audit.conclude()


def state_sample(
    audit: ScenarioRun, client: TargetClient, batch_id: str
) -> tuple[str | None, str, str | None]:
    """(DB, API, DB): the API's batch state read between two reads of the database."""
    return db_batch_state(audit, batch_id), client.batch_state(batch_id), db_batch_state(audit, batch_id)


#: RR-005: the batches to create (name = the state each must end in) and their sizes, in claim order
RR005_BATCHES = (
    ("completed", 3),
    ("failed", 2),
    ("partial", 3),
    ("retrying", 1),
    ("timeout", 1),
    ("cancelled", 3),
)
RR005_STATES = ("queued", "processing", "completed", "failed", "partial", "retrying", "cancelled", "timeout")


@pytest.mark.audit(
    id="TEST-RR-005",
    title="State accuracy after various interruptions",
    task=TASK,
    severity="HIGH",
    needs=(
        "services.api",
        "services.worker*2",
        "observe.items",
        "control.cancel",
        "control.attention",
        "database.observations.batches",
        "database.observations.items",
        "database.observations.results",
        "database.observations.workers",
        "observe.item_fields.error_kind",
        "observe.item_fields.error_message",
        "observe.item_fields.error_status",
        "observe.item_fields.output",
        "database.invariants.batch_rollup_mismatch",
        "database.invariants.completed_batch_with_failed_items",
        "database.invariants.illegal_transitions",
        "database.invariants.stuck_processing",
    ),
)
def test_rr_005_every_state_reachable_and_reported_identically(audit: ScenarioRun) -> None:
    # Given a short batch deadline (one batch must overrun it) and a short maximum duration (its
    # long call must be flagged), two workers, paused once registered so that batches wait queued.
    deadline_s = 5.0
    workers = audit.workers(2)
    audit.stack.start(
        services=[audit.api, *workers],
        timing={"batch_deadline_s": deadline_s, "max_duration_s": 1.0},
    )
    client = audit.client()
    audit.wait_for(
        "both workers registered in the target's store",
        lambda: set(workers) <= {w.worker for w in audit.observe.workers()},
        timeout=settle_timeout(audit, 0),
    )
    seen: dict[str, dict[str, Any]] = {}  # state -> where it was observed and what API and DB said

    def observe(state: str, name: str, batch_id: str) -> bool:
        db1, api, db2 = state_sample(audit, client, batch_id)
        ok = db1 == api == db2 == state
        if state not in seen or (ok and not seen[state]["ok"]):  # the first agreeing observation wins
            seen[state] = {"batch": name, "api": api, "db": db1 if db1 == db2 else f"{db1}->{db2}", "ok": ok}
        return ok

    for w in workers:
        audit.faults.pause(w)
    batches = {name: client.batch_id_of(client.create_batch(n)) for name, n in RR005_BATCHES}
    queued = all([observe("queued", name, bid) for name, bid in batches.items()])
    early_outputs = sum(len(audit.observe.results(bid)) for bid in batches.values())
    audit.expect("queued_without_output", queued and early_outputs == 0, detail={"outputs": early_outputs})
    items = {name: items_by_seq(client, bid) for name, bid in batches.items()}

    # When real scenarios drive each batch: rejected input, a partial failure, a transient 503,
    # a response that never ends (past the deadline), and a cancel while a call is in flight.
    with contextlib.ExitStack() as scripts:
        for name, seq in (("failed", 1), ("failed", 2), ("partial", 2)):
            scripts.enter_context(audit.provider.rule(items[name][seq].id, status=422))
        scripts.enter_context(
            audit.provider.rule(items["retrying"][1].id, attempt=1, status=503, retry_after=1)
        )
        scripts.enter_context(audit.provider.rule(items["timeout"][1].id, trickle_ms=100))
        held = scripts.enter_context(audit.provider.barrier(items["cancelled"][2].id))
        for w in workers:
            audit.faults.resume(w)

        retrying = poll_until(
            lambda: observe("retrying", "retrying", batches["retrying"]), timeout=deadline_s
        )
        r_item = items_by_seq(client, batches["retrying"])[1]
        r_error = item_error(audit, r_item)
        attempts = audit.observe.item_field(r_item, "attempts", optional=True)
        audit.evidence("retrying_item", {"attempts": attempts, "error": r_error})
        audit.expect("retrying_records_previous_attempt", bool(retrying and r_error),
                     detail={"item": dict(r_item.raw)})  # fmt: skip
        held.wait(timeout=settle_timeout(audit, 13))  # a worker is inside the cancelled batch's item 2
        observe("processing", "cancelled", batches["cancelled"])
        cancel = client.control("cancel", {"batch_id": batches["cancelled"]})
        cancelled_at = time.monotonic()
        observe("cancelled", "cancelled", batches["cancelled"])
        held.release()
        audit.expect("cancel_accepted", cancel.ok, detail={"status": cancel.status})

        # Then the call that overran the maximum duration is flagged while still processing.
        stuck = poll_until(lambda: processing_longer_than(audit, audit.stack.timing["max_duration_s"]),
                           timeout=deadline_s) or []  # fmt: skip
        flagged = json.dumps(client.control("attention", {}).body) if stuck else ""
        unflagged = [r for r in stuck if r["batch_id"] not in flagged]
        audit.evidence("processing_past_max_duration", f"{len(stuck)} item(s), {len(unflagged)} unflagged",
                       expected="flagged (admin attention list)")  # fmt: skip
        audit.expect(
            "long_processing_flagged", bool(stuck) and not unflagged, detail={"unflagged": unflagged}
        )

        # And every batch settles in the state its scenario implies, identically in API and DB.
        for name, bid in batches.items():
            wait_terminal(audit, client, bid, timeout=settle_timeout(audit, 13, extra=deadline_s))
            observe(name, name, bid)
    audit.evidence("states", {s: seen.get(s, "never observed") for s in RR005_STATES})
    for state in RR005_STATES:
        s = seen.get(state, {})
        ok = bool(s.get("ok"))
        audit.expect(f"state_{state}_reachable_and_identical", ok, detail={"state": state, **s})

    # The cancelled batch stopped calling at once and kept what it had done.
    x = items_by_seq(client, batches["cancelled"])
    x_calls = [e for e in ledger(audit) if str(e.get("batch_id")) == batches["cancelled"]]
    audit.check(calls_only_for(x_calls, [], since=cancelled_at))
    kept = x[1].state == "completed" and bool(audit.observe.item_field(x[1], "output"))
    audit.expect("cancelled_keeps_completed_output", kept, detail={"item_1": x[1].state})
    f = items_by_seq(client, batches["failed"])
    f_errors = [item_error(audit, v) for v in f.values()]
    audit.expect("failed_items_record_error", all(f_errors), detail={"errors": f_errors})
    inv = audit.invariants()
    for name in ("illegal_transitions", "batch_rollup_mismatch", "completed_batch_with_failed_items"):
        audit.check(inv.check(name))
    audit.check(inv.check("stuck_processing"))
    audit.conclude()


@pytest.mark.audit(
    id="TEST-RR-006",
    title="Concurrent resume after network partition",
    task=TASK,
    severity="CRITICAL",
    needs=(
        "services.api",
        "services.worker*2",
        "links.db",
        "observe.items",
        "database.observations.items",
        "database.observations.results",
        "logs.item_field",
        "logs.events.ownership_lost",
        "logs.events.completed?",
        "logs.events.stored?",
        "logs.events.failed?",
        "logs.events.retrying?",
        "database.invariants.completed_twice",
        "database.invariants.duplicate_outputs",
        "database.invariants.illegal_transitions",
    ),
)
def test_rr_006_partitioned_worker_cannot_commit(audit: ScenarioRun) -> None:
    # Given worker-1 alone, inside item 1's provider call (held); the call must outlive the
    # partition and the take-over, so the per-call timeout is set far above them.
    w1, w2 = audit.workers(2)
    w1_db = audit.link(w1, "db")
    audit.stack.start(services=[audit.api, w1], timing={"provider_timeout_s": 30.0})
    client = audit.client()
    bound = 10.0 + 3 * audit.stack.timing["lease_s"]  # a worker start, a lease expiry, a few calls
    with audit.provider.barrier(nth=1) as held:
        batch_id = client.batch_id_of(client.create_batch(3))
        held.wait(timeout=bound)
        item_id = items_by_seq(client, batch_id)[1].id
        a = db_item(audit, item_id)
        audit.expect("worker_1_holds_item", a.get("holder") == w1, detail=a)

        # When worker-1 loses its database link until its lease expires and worker-2 takes over.
        audit.faults.partition(w1_db)
        audit.stack.start_service(w2)
        b = audit.wait_for(
            "worker-2 to take the item over with a new lease token",
            lambda: (
                (r := db_item(audit, item_id)).get("holder") == w2
                and r["lease_token"] != a["lease_token"]
                and r
            ),
            timeout=bound,
        )
        audit.wait_for(
            "worker-2 to complete the item",
            lambda: db_item(audit, item_id).get("state") == "completed",
            timeout=bound,
        )
        # And the partition heals, then worker-1's held call gets its (successful) answer.
        audit.faults.heal_partition(w1_db)
        since = log_offset(audit, w1)
        held.release()
    audit.evidence("lease_tokens", {w1: a.get("lease_token"), w2: b["lease_token"]})

    # Then worker-1 notices it lost the item and backs off; one result, one completion.
    lost = audit.observe.events("ownership_lost")
    outcomes = ("ownership_lost", "completed", "stored", "failed", "retrying")
    event_field = audit.stack.target.logs.event_field
    outcome = poll_until(
        lambda: [e for o in outcomes if audit.stack.target.logs.events.get(o)
                 for e in log_events(audit, w1, since=since, item=item_id, event=o)],
        timeout=bound,
    ) or []  # fmt: skip
    events = [str(e.get(event_field)) for e in outcome]
    audit.evidence("worker_1_after_heal", events or "no outcome logged", expected=" or ".join(lost))
    audit.expect("worker_1_detects_lost_ownership", any(e in lost for e in events), detail={"events": events})
    committers = [r.committed_by for r in audit.observe.results(item_id=item_id)]
    audit.evidence("results_committed", committers, expected=[w2])
    audit.expect("one_result_from_owner", committers == [w2], detail={"results": committers})
    final = wait_terminal(audit, client, batch_id, timeout=bound)
    audit.expect("batch_completed", final == "completed", detail={"state": final})
    inv = audit.invariants()
    for name in ("duplicate_outputs", "completed_twice", "illegal_transitions"):
        audit.check(inv.check(name))
    audit.check(same_idempotency_key(ledger(audit)))  # worker-2 repeated the call with the item's key
    audit.conclude()


def summary_text(audit: ScenarioRun, body: Any) -> str:
    """What the target tells a user about the batch outcome (its summary, then its state's reason)."""
    summary = audit.observe.batch_field(body, "summary")
    reason = audit.observe.batch_field(body, "reason", optional=True)
    return " ".join(str(x) for x in (summary, reason) if x)


def processing_longer_than(audit: ScenarioRun, seconds: float) -> list[dict[str, Any]]:
    """Items the store shows processing, not updated for longer than ``seconds``."""
    now = datetime.now(UTC)
    return [
        {"item_id": r.item_id, "batch_id": r.batch_id}
        for r in audit.observe.items()
        if r.state == "processing"
        and r.updated_at is not None
        and (r.updated_at if r.updated_at.tzinfo else r.updated_at.replace(tzinfo=UTC))
        < now - timedelta(seconds=seconds)
    ]


@pytest.mark.audit(
    id="TEST-RR-008",
    title="Graceful degradation on external service failure",
    task=TASK,
    severity="HIGH",
    needs=(
        "services.api",
        "services.worker",
        "observe.items",
        "control.retry_failed",
        "logs.item_field",
        "observe.batch_fields.summary",
        "observe.item_fields.error_kind",
        "observe.item_fields.error_message",
        "observe.item_fields.error_status",
        "observe.item_fields.output",
    ),
)
def test_rr_008_provider_errors_are_specific_and_retry_is_selective(audit: ScenarioRun) -> None:
    # Given a 20-item batch queued before the worker starts, and a provider that answers 500 to
    # every call for items 6-8 (a window in the middle of the batch). The breaker threshold is set
    # above the window's consecutive failures: this scenario is about items failing, TEST-RR-P02
    # about the breaker.
    window = (6, 7, 8)
    max_attempts = audit.stack.timing["max_attempts"]
    (worker,) = audit.workers(1)
    audit.stack.start(services=[audit.api], timing={"breaker_threshold": len(window) * max_attempts + 1})
    client = audit.client()
    batch_id = client.batch_id_of(client.create_batch(N))
    queued = items_by_seq(client, batch_id)
    since = log_offsets(audit)
    with contextlib.ExitStack() as outage:
        for seq in window:
            outage.enter_context(audit.provider.rule(queued[seq].id, status=500))
        audit.history.fault("provider_500", "provider", "start", items=list(window))
        audit.stack.start_service(worker)
        first = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, N))
    audit.history.fault("provider_500", "provider", "heal")  # the provider has recovered

    # Then the failed items carry a specific error and the successes are kept.
    before = items_by_seq(client, batch_id)
    failed = {s: v for s, v in before.items() if v.state == "failed"}
    done = {s: v for s, v in before.items() if v.state == "completed"}
    audit.evidence("after_outage", f"{first}: {len(done)} completed, failed items {sorted(failed)}",
                   expected=f"partial: {N - len(window)} completed, failed items {list(window)}")  # fmt: skip
    audit.expect("window_items_failed", sorted(failed) == list(window), detail={"failed": sorted(failed)})
    errors = {
        s: tuple(audit.observe.item_field(v, f) for f in ("error_kind", "error_status", "error_message"))
        for s, v in failed.items()
    }
    generic = {None, "", "error", "unknown", "Unknown error"}
    specific = {s: e for s, e in errors.items() if e[0] not in generic and str(e[1]) == "500"}
    audit.evidence("failed_item_errors", sorted({f"{k}/{st}" for k, st, _ in errors.values()}),
                   expected="a kind and the provider status 500")  # fmt: skip
    audit.expect("errors_specific", bool(failed) and len(specific) == len(failed), detail={"errors": errors})
    summary = summary_text(audit, client.progress(batch_id).body)
    # "<n> <items, tasks, jobs...> failed ... 500": how many, and why, in the target's own words
    actionable = bool(re.search(rf"\b{len(window)} \w+ failed\b", summary)) and "500" in summary
    audit.evidence("summary", summary, expected=f"'{len(window)} items failed due to provider 500'")
    audit.expect("summary_actionable", actionable, detail={"summary": summary})
    logged = {
        seq: logged_errors(audit, v.id, ("500", "server_error"), since=since) for seq, v in failed.items()
    }
    audit.evidence("errors_logged_with_response", sum(1 for x in logged.values() if x), expected=len(window))
    audit.expect("errors_logged_with_response", all(logged.values()) and bool(logged),
                 detail={"items_without_log": [s for s, x in logged.items() if not x]})  # fmt: skip

    # When the user retries the failed items after the provider recovered.
    retried_at = time.monotonic()
    retry = client.control("retry_failed", {"batch_id": batch_id})
    final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, N))

    # Then only the failed items were called again, and every earlier result is untouched.
    after = items_by_seq(client, batch_id)
    entries = ledger(audit)
    only = audit.check(calls_only_for(entries, [v.id for v in failed.values()], since=retried_at))
    audit.evidence("retry_calls", only.evidence.get("calls_after"), expected=len(window))
    audit.check(not_called_again(entries, [v.id for v in done.values()], since=retried_at))
    output = audit.observe.item_field
    changed = [s for s, v in done.items() if output(after[s], "output") != output(v, "output")]
    audit.expect("successes_preserved", not changed, detail={"changed_outputs": changed})
    completed = [v.id for v in after.values() if v.state == "completed"]
    audit.evidence("final", f"{final}, {len(completed)}/{N} completed", expected=f"completed, {N}/{N}")
    audit.expect("retry_completes_batch", retry.ok and final == "completed" and len(completed) == N,
                 detail={"retry_status": retry.status, "state": final})  # fmt: skip
    audit.check(exactly_once(entries, completed))
    audit.check(same_idempotency_key(entries))
    audit.conclude()
