"""Reliability & Resilience Audit (seed 001), task 5: retry safety (TEST-RR-R01, -R02, -R03).

Each scenario first finishes a batch with failed items: the provider rejects chosen calls (``nth``)
with a non-retryable 422, so the items those calls were for fail. Which items those are is read
from the ledger (the ``item_id`` of each rejected call): with parallel workers or prefetch the n-th
call is not the item at position n. The failed items are then found by their state through the
API, and a retry's calls are the ledger entries that arrived after the retry was requested.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import ExitStack
from typing import Any

import pytest

from harness.checkers.ledger import calls_only_for, exactly_once, not_called_again, same_idempotency_key
from harness.errors import ProviderError
from harness.scenario import ScenarioRun
from harness.target.client import ItemView, TargetClient
from harness.workload import (
    ids_in_state,
    items_answered_by,
    items_by_id,
    ledger,
    poll_until,
    positions,
    settle_timeout,
    wait_terminal,
    work_calls,
)

N = 20
#: a bound on user retries of one item; a target that accepts more has no limit worth the name
MAX_RETRIES_PROBED = 10


def _batch_with_failures(
    audit: ScenarioRun, client: TargetClient, n: int, fail_at: Iterable[int]
) -> tuple[str, list[str]]:
    """Run an ``n``-item batch whose calls ``fail_at`` are rejected (422); wait until it settles.

    Returns the batch and the items the rejected calls were for (the ledger's ``item_id``).
    """
    with ExitStack() as rules:
        rule_ids = [rules.enter_context(audit.provider.rule(nth=nth, status=422)) for nth in fail_at]
        batch_id = client.batch_id_of(client.create_batch(n))
        wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, n))
    return batch_id, items_answered_by(audit, rule_ids)


def _calls_since(audit: ScenarioRun, since: float) -> list[dict[str, Any]]:
    return [e for e in work_calls(audit) if e["arrived_at"] >= since]


def _call_summary(calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"calls": len(calls), "items": len({c["item_id"] for c in calls})}


def _retry_count(audit: ScenarioRun, item: ItemView) -> int | None:
    value = audit.observe.item_field(item, "retry_count")
    return int(value) if value is not None else None


def _settle_retry(
    audit: ScenarioRun, client: TargetClient, batch_id: str, item_ids: Iterable[str], *, since: float
) -> str:
    """After an accepted retry: wait until each retried item's call has ended (the ledger), then until
    the batch settles; its state. A target that never calls again is waited for up to the bound."""
    wanted = {str(i) for i in item_ids}
    bound = settle_timeout(audit, len(wanted))

    def called() -> bool:
        ended = {str(e["item_id"]) for e in _calls_since(audit, since) if e.get("answered_at") is not None}
        return wanted <= ended

    poll_until(called, timeout=bound, interval=0.05)
    return wait_terminal(audit, client, batch_id, timeout=bound)


@pytest.mark.audit(
    id="TEST-RR-R01",
    needs=("control.retry_item", "observe.items", "services.api", "services.worker"),
)
def test_rr_r01_retry_single_item(audit: ScenarioRun) -> None:
    # Given a finished batch of 20 whose 7th provider call was rejected: that call's item failed.
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    client = audit.client()
    batch_id, rejected = _batch_with_failures(audit, client, N, fail_at=[7])
    before = items_by_id(client, batch_id)
    failed = ids_in_state(before.values(), "failed")
    audit.evidence(
        "failed_items",
        positions(before, failed),
        expected=f"the rejected call's item {positions(before, rejected)}",
    )
    audit.expect(
        "only_item_7_failed",
        len(rejected) == 1 and failed == rejected,
        detail={"failed": positions(before, failed), "rejected_call_for": positions(before, rejected)},
    )
    if not rejected:  # the 7th call never came: nothing to retry
        audit.conclude()
        return
    item = before[rejected[0]]
    first_call = next(e for e in work_calls(audit) if str(e["item_id"]) == item.id)

    # When the user retries that item.
    retried_at = time.monotonic()
    answer = client.control("retry_item", {"item_id": item.id})
    audit.expect("retry_accepted", answer.ok, detail={"status": answer.status, "body": answer.body})
    final = (
        _settle_retry(audit, client, batch_id, [item.id], since=retried_at)
        if answer.ok
        else client.batch_state(batch_id)
    )

    # Then exactly one provider call, for that item, with the same parameters and idempotency key.
    calls = _calls_since(audit, retried_at)
    audit.evidence("provider_calls_for_retry", len(calls), expected=1)
    audit.expect("exactly_one_call", len(calls) == 1, detail=_call_summary(calls))
    keys = ("item_id", "batch_id", "idempotency_key")
    same = bool(calls) and all(c.get(k) == first_call.get(k) for c in calls for k in keys)
    audit.evidence("same_parameters_and_key", same, expected=True)
    retry_keys = sorted({str(c.get("idempotency_key")) for c in calls})
    detail = {
        "first": first_call.get("idempotency_key"),
        "retry": retry_keys[:3],
        "distinct": len(retry_keys),
    }
    audit.expect("same_parameters_and_key", same, detail=detail)
    after = items_by_id(client, batch_id)
    with audit.deciding("retry_count_plus_one"):
        counts = (_retry_count(audit, item), _retry_count(audit, after[item.id]))
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
        doomed_batch, _ = _batch_with_failures(audit, client, 1, fail_at=[])
        (doomed,) = items_by_id(client, doomed_batch).values()
        accepted, refusal = 0, None
        for _ in range(MAX_RETRIES_PROBED):
            since = time.monotonic()
            answer = client.control("retry_item", {"item_id": doomed.id})
            if not answer.ok:
                refusal = answer
                break
            accepted += 1
            _settle_retry(audit, client, doomed_batch, [doomed.id], since=since)
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
    audit.check(exactly_once(ledger(audit), ids_in_state(after.values(), "completed")))
    audit.conclude()


@pytest.mark.audit(
    id="TEST-RR-R02",
    needs=("control.retry_failed", "observe.items", "services.api", "services.worker"),
)
def test_rr_r02_retry_all_failed(audit: ScenarioRun) -> None:
    # Given a finished batch of 20 whose calls 3, 7, 11, 15 and 19 were rejected: 5 failed items.
    fail_at = [3, 7, 11, 15, 19]
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    client = audit.client()
    batch_id, rejected = _batch_with_failures(audit, client, N, fail_at=fail_at)
    before = items_by_id(client, batch_id)
    failed = ids_in_state(before.values(), "failed")
    audit.evidence(
        "failed_items",
        positions(before, failed),
        expected=f"the rejected calls' items {positions(before, rejected)}",
    )
    audit.expect(
        "five_items_failed",
        len(rejected) == len(fail_at) and sorted(failed) == sorted(rejected),
        detail={"failed": positions(before, failed), "rejected_calls_for": positions(before, rejected)},
    )
    completed_before = [v for v in before.values() if v.state == "completed"]

    # When the user retries every failed item of the batch.
    retried_at = time.monotonic()
    answer = client.control("retry_failed", {"batch_id": batch_id})
    audit.expect("retry_failed_accepted", answer.ok, detail={"status": answer.status, "body": answer.body})
    final = (
        _settle_retry(audit, client, batch_id, failed, since=retried_at)
        if answer.ok
        else client.batch_state(batch_id)
    )

    # Then exactly 5 calls, only for the failed items; completed items untouched; counts +1 each.
    entries = ledger(audit)
    calls = _calls_since(audit, retried_at)
    audit.evidence("provider_calls_for_retry", len(calls), expected=len(fail_at))
    audit.expect("exactly_five_calls", len(calls) == len(fail_at), detail={"calls": len(calls)})
    audit.check(calls_only_for(entries, failed, since=retried_at))
    audit.check(not_called_again(entries, [v.id for v in completed_before], since=retried_at))
    after = items_by_id(client, batch_id)
    touched = positions(before, [v.id for v in completed_before if after[v.id].raw != v.raw])
    audit.evidence("completed_items_changed", touched, expected=[])
    audit.expect("completed_items_untouched", not touched, detail={"changed": touched})
    with audit.deciding("each_retry_count_plus_one"):
        bumped = {i: (_retry_count(audit, before[i]), _retry_count(audit, after[i])) for i in failed}
        wrong = {before[i].seq or i: c for i, c in bumped.items() if None in c or c[1] != (c[0] or 0) + 1}
        audit.evidence("retry_counts_plus_one", len(bumped) - len(wrong), expected=len(fail_at))
        audit.expect("each_retry_count_plus_one", bool(bumped) and not wrong, detail={"counts": wrong})
    audit.evidence("batch_after_retry", final, expected="completed")
    audit.expect("batch_completed", final == "completed", detail={"state": final})
    audit.check(same_idempotency_key(entries))
    audit.conclude()


@pytest.mark.audit(
    id="TEST-RR-R03",
    needs=("control.retry_item", "observe.items", "services.api", "services.worker"),
)
def test_rr_r03_concurrent_retry_refused(audit: ScenarioRun) -> None:
    # Given a finished batch of 20 whose 7th provider call was rejected: that call's item failed.
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    client = audit.client()
    batch_id, rejected = _batch_with_failures(audit, client, N, fail_at=[7])
    items = items_by_id(client, batch_id)
    item = items[rejected[0]] if rejected else None
    audit.evidence("rejected_call_item", positions(items, rejected), expected="one failed item")
    audit.expect(
        "item_7_failed",
        item is not None and item.state == "failed",
        detail={
            "state": item and item.state,
            "failed": positions(items, ids_in_state(items.values(), "failed")),
        },
    )
    if item is None:  # the 7th call never came: nothing to retry
        audit.conclude()
        return

    # When the first retry's provider call is held (the item is processing), a second retry comes.
    retried_at = time.monotonic()
    held_error = None
    with audit.provider.barrier(item.id) as held:
        first = client.control("retry_item", {"item_id": item.id})
        if first.ok:  # a refused first retry makes no call to wait for
            try:
                held.wait(timeout=settle_timeout(audit, 1))
            except ProviderError as exc:  # accepted, but the item was never called: a finding below
                held_error = str(exc)
        state_then = items_by_id(client, batch_id)[item.id].state
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
    audit.expect("one_provider_call", len(calls) == 1, detail={**_call_summary(calls), "held": held_error})
    audit.evidence("batch_after_retry", final, expected="completed")
    audit.expect("batch_completed", final == "completed", detail={"state": final})
    audit.check(audit.invariants().check("duplicate_outputs", batch_id=batch_id))
    audit.conclude()
