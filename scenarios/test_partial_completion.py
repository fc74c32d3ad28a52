"""Reliability & Resilience Audit (seed 001), task 4: partial completion (TEST-RR-P01, TEST-RR-P02).

Faults aim at provider calls (``nth``); the item a faulted call was for is read from the ledger
(its ``item_id``), so both scenarios hold with parallel workers and prefetch. P02 decides the
circuit breaker from behaviour: after repeated 5xx the ledger must show the calls stopping (quiet
for a cooldown, apart from one probe per cooldown); the paused state the API shows is evidence.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from harness.checkers.ledger import calls_only_for, exactly_once, no_calls_during, not_called_again
from harness.errors import ObservationMissing, Undecidable
from harness.scenario import ScenarioRun
from harness.workload import (
    TERMINAL,
    ids_in_state,
    item_error,
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
#: the failures the seeds allow before a breaker opens
BREAKER_MIN, BREAKER_MAX = 3, 5
#: without a cooldown in the target file: calls stopping this long means a breaker opened (the
#: probes' period is then measured: the quiet time from the opening to the first probe)
QUIET_WITHOUT_COOLDOWN_S = 0.25
#: without a cooldown in the target file: how long the outage may last before the harness heals it
OUTAGE_BOUND_WITHOUT_COOLDOWN_S = 17.0


@pytest.mark.audit(
    id="TEST-RR-P01",
    needs=("control.retry_item", "observe.items", "services.api", "services.worker"),
)
def test_rr_p01_item_failure_is_isolated(audit: ScenarioRun) -> None:
    # Given a provider that rejects the 7th call with a non-retryable 422 (the item that call is for).
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    client = audit.client()
    with audit.provider.rule(nth=7, status=422) as rule_id:
        batch_id = client.batch_id_of(client.create_batch(N))
        final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, N))
    items = items_by_id(client, batch_id)
    rejected = items_answered_by(audit, [rule_id])
    bad = items[rejected[0]] if rejected else None

    # Then every other item still processed, the rejected one failed with a specific error, the
    # batch is partial.
    done = ids_in_state(items.values(), "completed")
    others = [i for i in items if i not in rejected]
    audit.evidence("batch", f"{final}, {len(done)}/{N} completed", expected=f"partial, {N - 1}/{N}")
    audit.expect(
        "batch_partial_19_of_20",
        final == "partial" and bad is not None and sorted(done) == sorted(others),
        detail={"state": final, "completed": positions(items, done), "rejected": positions(items, rejected)},
    )
    with audit.deciding("item_7_failed_with_specific_error"):
        error = item_error(audit, bad) if bad else ""
        state = bad.state if bad else None
        audit.evidence("item_7", f"{state}: {error[:160]}", expected="failed: provider 422 ...")
        specific = "422" in error and "unknown error" not in error.lower()
        audit.expect(
            "item_7_failed_with_specific_error",
            state == "failed" and specific,
            detail={"item": positions(items, rejected), "state": state, "error": error},
        )
    called = {str(e["item_id"]) for e in work_calls(audit)}
    not_called = [i for i in others if i not in called]
    audit.evidence(
        "other_items_called", f"{len(others) - len(not_called)}/{len(others)}", expected=f"{N - 1}/{N - 1}"
    )
    audit.expect(
        "items_8_to_20_processed",
        bad is not None and not not_called,
        detail={"not_called": positions(items, not_called)},
    )
    if bad is None:  # the 7th call never came: nothing to retry
        audit.conclude()
        return

    # When the failed item alone is retried, then only it is called and the batch completes.
    retried_at = time.monotonic()
    answer = client.control("retry_item", {"item_id": bad.id})
    audit.expect("retry_item_7_accepted", answer.ok, detail={"status": answer.status, "body": answer.body})
    final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, 1)) if answer.ok else final
    entries = ledger(audit)
    audit.check(calls_only_for(entries, [bad.id], since=retried_at))
    audit.evidence("after_retry", final, expected="completed")
    audit.expect("batch_completed_after_retry", final == "completed", detail={"state": final})
    completed = ids_in_state(client.items(batch_id), "completed")
    audit.check(exactly_once(entries, completed))
    audit.conclude()


# -- TEST-RR-P02 ---------------------------------------------------------------------------------
def _pause_state(audit: ScenarioRun, body: Any) -> dict[str, Any]:
    """What the progress says about a pause: its flag and its reason (``observe.batch_fields``);
    ``unknown`` only when the target reports neither."""
    state: dict[str, Any] = {}
    missing: list[ObservationMissing] = []
    for name in ("paused", "reason"):
        try:
            state[name] = audit.observe.batch_field(body, name)
        except ObservationMissing as exc:
            state[name], missing = None, [*missing, exc]
    if len(missing) == 2:
        raise missing[0]
    return state


def _says_paused(state: dict[str, Any]) -> bool:
    reason = str(state["reason"] or "").lower()
    return state["paused"] is True or ("paused" in reason and "unavailable" in reason)


def _opening(
    calls: Sequence[dict[str, Any]], quiet_s: float, now: float
) -> tuple[list[dict[str, Any]], float | None]:
    """The first burst of ``calls`` (by arrival) and when it ended: the end of its last call, once
    no call arrived for ``quiet_s`` after it (None while calls go on). Parallel calls overlap: the
    burst ends when every call of it has ended."""
    burst: list[dict[str, Any]] = []
    last_end: float | None = None
    for c in sorted(calls, key=lambda e: float(e["arrived_at"])):
        if last_end is not None and float(c["arrived_at"]) - last_end >= quiet_s:
            return burst, last_end
        burst.append(c)
        answered = c.get("answered_at")
        end = float(answered) if answered is not None else now
        last_end = end if last_end is None else max(last_end, end)
    if last_end is not None and now - last_end >= quiet_s:
        return burst, last_end
    return burst, None


def _probe_period(calls: Sequence[dict[str, Any]], opened: float, cooldown: float | None) -> float:
    """The breaker's cooldown: the target file's, else the quiet time from the opening to the first
    probe (no probe: the floor the opening was detected with)."""
    if cooldown:
        return float(cooldown)
    after = [float(c["arrived_at"]) - opened for c in calls if float(c["arrived_at"]) > opened]
    return max(min(after, default=QUIET_WITHOUT_COOLDOWN_S), QUIET_WITHOUT_COOLDOWN_S)


def _failed(calls: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in calls if (c.get("status") or 0) >= 500]


@pytest.mark.audit(
    id="TEST-RR-P02",
    needs=("observe.items", "services.api", "services.worker"),
)
def test_rr_p02_circuit_breaker_pauses_and_resumes(audit: ScenarioRun) -> None:
    # Given a worker inside the 7th call (held at a barrier) with the six calls before it done.
    audit.stack.start(services=[audit.api, *audit.workers(1)])
    cooldown = audit.stack.timing.get("breaker_cooldown_s")  # None: the target file says it has none
    # a breaker that opened is quiet for a cooldown (less 10 % for clock jitter)
    quiet_s = 0.9 * float(cooldown) if cooldown else QUIET_WITHOUT_COOLDOWN_S
    client = audit.client()
    with audit.provider.barrier(nth=7) as held:
        batch_id = client.batch_id_of(client.create_batch(N))
        held.wait(timeout=settle_timeout(audit, N))
        first_six = [
            str(e["item_id"]) for e in work_calls(audit) if e.get("nth") is not None and e["nth"] < 7
        ]

        def first_six_done() -> bool:  # with parallel workers an earlier item may still be committing
            return set(first_six) <= set(ids_in_state(client.items(batch_id), "completed"))

        poll_until(first_six_done, timeout=settle_timeout(audit, 6))
        before = items_by_id(client, batch_id)
        # When the provider goes down (every call 500), starting with the held call.
        outage_at = time.monotonic()
        audit.faults.provider_outage(500)
    done_before = ids_in_state(before.values(), "completed")
    audit.expect(
        "items_1_to_6_done_at_outage",
        len(first_six) == 6 and set(first_six) <= set(done_before),
        detail={"first_six_calls_for": positions(before, first_six), "done": positions(before, done_before)},
    )

    def outage_calls() -> list[dict[str, Any]]:
        return [e for e in work_calls(audit)
                if float(e["arrived_at"]) >= outage_at or e.get("barrier_id") == held.id]  # fmt: skip

    # Then the calls stop after 3-5 consecutive failures (the breaker opens), and one probe per
    # cooldown follows; the outage lasts until two probes came (or the batch gave up, or a bound).
    pause: dict[str, Any] = {"seen": False, "missing": None, "last": None}

    def watch() -> bool:
        body = client.progress(batch_id).body
        if pause["missing"] is None:
            try:
                pause["last"] = _pause_state(audit, body)
                pause["seen"] = pause["seen"] or _says_paused(pause["last"])
            except Undecidable as exc:
                pause["missing"] = exc
        if client.canonical(str(body[client.target.observe.status_field])) in TERMINAL:
            return True
        calls = outage_calls()
        _, opened = _opening(calls, quiet_s, time.monotonic())
        return opened is not None and sum(float(c["arrived_at"]) > opened for c in calls) >= 2

    outage_bound = 5 + 12 * float(cooldown) if cooldown else OUTAGE_BOUND_WITHOUT_COOLDOWN_S
    poll_until(watch, timeout=outage_bound, interval=0.1)
    audit.faults.heal_provider()
    healed_at = time.monotonic()

    calls = outage_calls()
    burst, opened = _opening(calls, quiet_s, healed_at)
    failures = len(_failed(burst))
    audit.evidence(
        "failures_before_breaker_opened",
        failures if opened else None,
        expected=f"{BREAKER_MIN}-{BREAKER_MAX}",
    )
    audit.expect(
        "breaker_opens_after_3_to_5",
        opened is not None and BREAKER_MIN <= failures <= BREAKER_MAX,
        detail={"failures_in_first_burst": failures, "calls_stopped": opened is not None, "quiet_s": quiet_s},
    )
    # While open, at most one probe per cooldown: from the end of the burst, or from the 5th
    # failure at the latest (a breaker must have opened by then).
    open_from = opened
    if opened is None or failures > BREAKER_MAX:
        failed = _failed(calls)
        latest = failed[BREAKER_MAX - 1] if len(failed) >= BREAKER_MAX else None
        ended = latest.get("answered_at") if latest else None
        open_from = float(ended) if ended is not None else healed_at
    with audit.deciding("paused_provider_unavailable"):
        if pause["missing"] is not None:
            raise pause["missing"]
        audit.evidence("paused_state_visible", pause["seen"], expected=True)
        audit.expect("paused_provider_unavailable", pause["seen"], detail={"last": pause["last"]})

    # And after recovery everything completes with no human step; items done before are never called again.
    final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, N))
    entries = ledger(audit)
    period = _probe_period(calls, open_from, cooldown)
    audit.evidence("probe_period_s", round(period, 3))
    probes = math.floor((healed_at - open_from) / period) + 1
    open_window = audit.check(no_calls_during(entries, [(open_from, healed_at)], probes_per_window=probes))
    audit.evidence("calls_while_open", open_window.evidence.get("calls_in_windows"), expected=f"<= {probes}")
    audit.check(not_called_again(entries, done_before, since=outage_at))
    items = items_by_id(client, batch_id)
    completed = ids_in_state(items.values(), "completed")
    audit.evidence("final", f"{final}, {len(completed)}/{N} completed", expected=f"completed, {N}/{N}")
    with audit.deciding("completes_without_intervention"):
        # An item that spent all its attempts on outage calls (probes let through while the harness,
        # slowed by a busy machine, had not yet healed) failed by the outage's length, the harness's
        # choice: that tells nothing about resuming without intervention.
        attempts = audit.stack.timing.get("max_attempts")
        per_item = Counter(str(c.get("item_id")) for c in _failed(calls))
        spent = [i for i, n in per_item.items() if attempts and n >= int(attempts) and i not in completed]
        if spent and final != "completed":
            raise Undecidable(
                f"items {positions(items, spent)} spent all {attempts} attempts on calls during the outage "
                "before it was healed: the outage outlasted the attempts"
            )
        audit.expect(
            "completes_without_intervention",
            final == "completed" and len(completed) == N,
            detail={"state": final, "completed": len(completed)},
        )
    audit.check(exactly_once(entries, completed))
    audit.conclude()
