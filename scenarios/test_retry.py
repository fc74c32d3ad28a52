"""Reliability & Resilience Audit (seed 001), task 5: retry safety (TEST-RR-R01, -R02, -R03).

Each scenario first finishes a batch with failed items: one worker processes the batch in order,
and the provider rejects chosen calls (``nth``) with a non-retryable 422, so exactly those items
fail. A retry's calls are then the ledger entries that arrived after the retry was requested.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import ExitStack
from typing import Any

import pytest

from harness.checkers.ledger import calls_only_for, exactly_once, not_called_again, same_idempotency_key
from harness.scenario import ScenarioRun
from harness.target.client import ItemView, TargetClient
from harness.workload import items_by_seq, ledger, settle_timeout, wait_terminal, work_calls

TASK = "5. Retry safety"
N = 20
#: a bound on user retries of one item; a target that accepts more has no limit worth the name
MAX_RETRIES_PROBED = 10


def _batch_with_failures(audit: ScenarioRun, client: TargetClient, n: int, fail_at: Iterable[int]) -> str:
    """Run an ``n``-item batch whose calls ``fail_at`` are rejected (422); wait until it settles."""
    with ExitStack() as rules:
        for nth in fail_at:
            rules.enter_context(audit.provider.rule(nth=nth, status=422))
        batch_id = client.batch_id_of(client.create_batch(n))
        wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, n))
    return batch_id


def _calls_since(audit: ScenarioRun, since: float) -> list[dict[str, Any]]:
    return [e for e in work_calls(audit) if e["arrived_at"] >= since]


def _call_summary(calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"calls": len(calls), "items": len({c["item_id"] for c in calls})}


def _retry_count(audit: ScenarioRun, item: ItemView) -> int | None:
    value = audit.observe.item_field(item, "retry_count")
    return int(value) if value is not None else None


def _failed(items: dict[int, ItemView]) -> list[int]:
    return sorted(s for s, v in items.items() if v.state == "failed")


@pytest.mark.audit(
    id="TEST-RR-R01",
    title="Retry one failed item: one call, same key, bounded",
    task=TASK,
    severity="HIGH",
    needs=(
        "control.retry_item",
        "observe.item_fields.retry_count",
        "observe.items",
        "services.api",
        "services.worker",
    ),
)
def test_rr_r01_retry_single_item(audit: ScenarioRun) -> None:
    # Given a finished batch of 20 whose item 7 failed.
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    client = audit.client()
    batch_id = _batch_with_failures(audit, client, N, fail_at=[7])
    before = items_by_seq(client, batch_id)
    audit.expect("only_item_7_failed", _failed(before) == [7], detail={"failed": _failed(before)})
    item = before[7]
    first_call = next(e for e in work_calls(audit) if e["item_id"] == item.id)

    # When the user retries item 7.
    retried_at = time.monotonic()
    answer = client.control("retry_item", {"item_id": item.id})
    audit.expect("retry_accepted", answer.ok, detail={"status": answer.status, "body": answer.body})
    final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, 1))

    # Then exactly one provider call, for item 7, with the same parameters and idempotency key.
    calls = _calls_since(audit, retried_at)
    audit.evidence("provider_calls_for_retry", len(calls), expected=1)
    audit.expect("exactly_one_call", len(calls) == 1, detail=_call_summary(calls))
    keys = ("item_id", "batch_id", "idempotency_key")
    same = bool(calls) and all(c.get(k) == first_call.get(k) for c in calls for k in keys)
    audit.evidence("same_item_and_idempotency_key", same, expected=True)
    retry_keys = sorted({str(c.get("idempotency_key")) for c in calls})
    detail = {
        "first": first_call.get("idempotency_key"),
        "retry": retry_keys[:3],
        "distinct": len(retry_keys),
    }
    audit.expect("same_parameters_and_key", same, detail=detail)
    after = items_by_seq(client, batch_id)
    counts = (_retry_count(audit, item), _retry_count(audit, after[7]))
    audit.evidence("retry_count", f"{counts[0]} -> {counts[1]}", expected="0 -> 1")
    audit.expect(
        "retry_count_plus_one",
        counts[0] is not None and counts[1] == counts[0] + 1,
        detail={"counts": counts},
    )
    audit.evidence("batch_after_retry", final, expected="completed")
    audit.expect("batch_completed", final == "completed", detail={"state": final})

    # And a retry beyond the limit is refused: a 1-item batch that always fails is retried until refused.
    with audit.provider.rule(status=422):
        doomed_batch = _batch_with_failures(audit, client, 1, fail_at=[])
        doomed = items_by_seq(client, doomed_batch)[1]
        accepted, refusal = 0, None
        for _ in range(MAX_RETRIES_PROBED):
            since = time.monotonic()
            answer = client.control("retry_item", {"item_id": doomed.id})
            if not answer.ok:
                refusal = answer
                break
            accepted += 1
            wait_terminal(audit, client, doomed_batch, timeout=settle_timeout(audit, 1))
            audit.expect(
                f"limit_probe_retry_{accepted}_one_call",
                len(_calls_since(audit, since)) == 1,
                detail={"calls": len(_calls_since(audit, since))},
            )
    audit.evidence("retries_accepted_before_refusal", accepted, expected=f"< {MAX_RETRIES_PROBED}")
    audit.evidence(
        "refusal", refusal and f"{refusal.status} {refusal.body}", expected="409 retry limit reached"
    )
    audit.expect(
        "retry_beyond_limit_refused",
        refusal is not None and refusal.status in (409, 422, 429),
        detail={"accepted": accepted, "refusal": refusal and refusal.body},
    )
    audit.check(exactly_once(ledger(audit), [v.id for v in after.values() if v.state == "completed"]))
    audit.conclude()


@pytest.mark.audit(
    id="TEST-RR-R02",
    title="Retry all failed: exactly the 5 failed items",
    task=TASK,
    severity="HIGH",
    needs=(
        "control.retry_failed",
        "observe.item_fields.retry_count",
        "observe.items",
        "services.api",
        "services.worker",
    ),
)
def test_rr_r02_retry_all_failed(audit: ScenarioRun) -> None:
    # Given a finished batch of 20 with 5 failed items.
    fail_at = [3, 7, 11, 15, 19]
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    client = audit.client()
    batch_id = _batch_with_failures(audit, client, N, fail_at=fail_at)
    before = items_by_seq(client, batch_id)
    audit.expect("five_items_failed", _failed(before) == fail_at, detail={"failed": _failed(before)})
    completed_before = [v for v in before.values() if v.state == "completed"]

    # When the user retries every failed item of the batch.
    retried_at = time.monotonic()
    answer = client.control("retry_failed", {"batch_id": batch_id})
    audit.expect("retry_failed_accepted", answer.ok, detail={"status": answer.status, "body": answer.body})
    final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, len(fail_at)))

    # Then exactly 5 calls, only for the failed items; completed items untouched; counts +1 each.
    entries = ledger(audit)
    calls = _calls_since(audit, retried_at)
    audit.evidence("provider_calls_for_retry", len(calls), expected=len(fail_at))
    audit.expect("exactly_five_calls", len(calls) == len(fail_at), detail={"calls": len(calls)})
    audit.check(calls_only_for(entries, [before[s].id for s in fail_at], since=retried_at))
    audit.check(not_called_again(entries, [v.id for v in completed_before], since=retried_at))
    after = items_by_seq(client, batch_id)
    touched = [v.seq for v in completed_before if after[v.seq or 0].raw != v.raw]
    audit.evidence("completed_items_changed", touched, expected=[])
    audit.expect("completed_items_untouched", not touched, detail={"changed": touched})
    bumped = {s: (_retry_count(audit, before[s]), _retry_count(audit, after[s])) for s in fail_at}
    wrong = {s: c for s, c in bumped.items() if None in c or c[1] != (c[0] or 0) + 1}
    audit.evidence("retry_counts_plus_one", len(bumped) - len(wrong), expected=len(fail_at))
    audit.expect("each_retry_count_plus_one", not wrong, detail={"counts": wrong})
    audit.evidence("batch_after_retry", final, expected="completed")
    audit.expect("batch_completed", final == "completed", detail={"state": final})
    audit.check(same_idempotency_key(entries))
    audit.conclude()


@pytest.mark.audit(
    id="TEST-RR-R03",
    title="Two concurrent retries of one item: one executes",
    task=TASK,
    severity="HIGH",
    needs=(
        "control.retry_item",
        "database.invariants.duplicate_outputs",
        "observe.items",
        "services.api",
        "services.worker",
    ),
)
def test_rr_r03_concurrent_retry_refused(audit: ScenarioRun) -> None:
    # Given a finished batch of 20 whose item 7 failed.
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    client = audit.client()
    batch_id = _batch_with_failures(audit, client, N, fail_at=[7])
    item = items_by_seq(client, batch_id)[7]
    audit.expect("item_7_failed", item.state == "failed", detail={"state": item.state})

    # When the first retry's provider call is held (the item is processing), a second retry comes.
    retried_at = time.monotonic()
    with audit.provider.barrier(item.id) as held:
        first = client.control("retry_item", {"item_id": item.id})
        held.wait(timeout=settle_timeout(audit, 1))
        state_then = items_by_seq(client, batch_id)[7].state
        second = client.fresh("client-2").control("retry_item", {"item_id": item.id})
    final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, 1))

    # Then the first executes, the second is refused ("already in progress"), one provider call.
    audit.evidence("item_state_at_second_retry", state_then, expected="processing")
    audit.expect("first_retry_accepted", first.ok, detail={"status": first.status, "body": first.body})
    audit.evidence("second_retry", f"{second.status} {second.body}", expected="409 already in progress")
    audit.expect(
        "second_retry_refused",
        not second.ok and second.status in (409, 423, 429),
        detail={"status": second.status, "body": second.body},
    )
    calls = _calls_since(audit, retried_at)
    audit.evidence("provider_calls_for_retries", len(calls), expected=1)
    audit.expect("one_provider_call", len(calls) == 1, detail=_call_summary(calls))
    audit.evidence("batch_after_retry", final, expected="completed")
    audit.expect("batch_completed", final == "completed", detail={"state": final})
    audit.check(audit.invariants().check("duplicate_outputs", batch_id=batch_id))
    audit.conclude()
