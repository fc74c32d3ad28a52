"""Reliability & Resilience Audit (seed 001), task 7: loop safeguards (TEST-RR-SL01, TEST-RR-SL02).

SL01 feeds the target a paginated listing whose ``has_more`` never turns false; the harness bounds
its own wait by the target's pagination bounds, so a runaway loop fails the scenario with numbers
instead of hanging it. SL02 poisons one item, then most items, of a batch.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

import pytest

from harness.errors import Undecidable
from harness.scenario import ScenarioRun
from harness.stack.timing import prefer
from harness.target.client import Answer, TargetClient
from harness.target.model import HttpCall
from harness.workload import (
    TERMINAL,
    item_error,
    items_by_seq,
    ledger,
    log_events,
    log_field,
    poll_until,
    require_state,
    settle_timeout,
    wait_terminal,
    work_calls,
)

N = 20
#: the listing bounds the scenario sets on a target that has them (its file declares a value)
BOUNDS = {"pagination_max_pages": 10, "pagination_max_s": 3.0}
#: the largest bounds of a running stack the scenario waits out instead of being unknown
WAITABLE = {"pagination_max_pages": 500, "pagination_max_s": 60.0}
#: the harness's own duration bound for a target that declares none (``pagination_max_s: null``)
OWN_BOUND_S = 10.0
WARNING_LEVELS = {"warning", "warn", "error", "critical"}


def create_from_listing(audit: ScenarioRun, client: TargetClient, correlation_id: str) -> Answer:
    """Create a batch whose items come from the provider's paginated listing (``source: listing``).

    The target file has no trigger for this yet, so the create call is reused with the reference
    contract's body; a target that refuses it cannot be audited here (unknown, never pass).
    """
    trig = client.target.trigger
    call = HttpCall(method=trig.create.method, path=trig.create.path, body={"source": "listing"})
    headers = {h: v for h, v in ((trig.idempotency_header, str(uuid.uuid4())),
                                 (trig.correlation_header, correlation_id)) if h}  # fmt: skip
    answer = client.call("create_batch_from_listing", call, {}, headers=headers)
    if not answer.ok:
        audit.unknown(f"the target cannot start a batch from the provider listing (HTTP {answer.status})")
    return answer


def listing_calls(audit: ScenarioRun) -> int:
    return sum(1 for e in ledger(audit) if e.get("kind") == "listing")


def warnings(audit: ScenarioRun, **match: Any) -> list[dict[str, Any]]:
    """Warning-or-worse log lines of every started service matching ``match`` (see ``log_events``)."""
    level = audit.stack.target.logs.level_field
    return [e for svc in audit.stack.started for e in log_events(audit, svc, **match)
            if str(e.get(level)).lower() in WARNING_LEVELS]  # fmt: skip


def brief(audit: ScenarioRun, entry: dict[str, Any]) -> dict[str, Any]:
    """A log line as evidence: its event and level."""
    spec = audit.stack.target.logs
    return {"event": entry.get(spec.event_field), "level": entry.get(spec.level_field)}


@pytest.mark.audit(
    id="TEST-RR-SL01",
    needs=(
        "observe.items",
        "services.api",
        "services.worker*2",
    ),
)
def test_rr_sl01_pagination_is_bounded(audit: ScenarioRun) -> None:
    # Given a target bounded to 10 pages / 3 s of listing (the bounds its file declares; a file
    # saying it has none keeps none), and a listing that never ends.
    # (short bounds where the harness sets them; a running stack's own, if they can be waited for)
    declared = {
        k: prefer(v, at_most=WAITABLE[k])
        for k, v in BOUNDS.items()
        if getattr(audit.stack.target.timing, k) is not None
    }
    audit.stack.start(services=[audit.api, *audit.workers(2)], timing=declared)
    t = audit.stack.timing
    max_pages, max_s = t.get("pagination_max_pages"), t.get("pagination_max_s")
    audit.provider.configure(listing_never_ending=True, listing_page_size=2)
    client = audit.client()
    cid = f"audit-sl01-{uuid.uuid4().hex[:12]}"

    # When a batch is sourced from that listing.
    started = time.monotonic()
    batch_id = client.batch_id_of(create_from_listing(audit, client, cid))

    def stopped_listing() -> str | None:
        """The batch ended, or its items are listed: the target stopped reading the listing."""
        state = client.batch_state(batch_id)
        return state if state in TERMINAL else ("items listed" if client.items(batch_id) else None)

    # Then the target stops paginating at its bound; the harness's own bound is twice the target's
    # duration bound (or the harness's, for a target without one) plus two leases: past it the loop
    # is runaway and the scenario fails.
    harness_bound = 2 * float(max_s if max_s is not None else OWN_BOUND_S) + 2 * float(t["lease_s"])
    stopped = poll_until(stopped_listing, timeout=harness_bound, interval=0.05)
    stopped_after = round(time.monotonic() - started, 2)
    pages_at_stop = listing_calls(audit)
    audit.evidence("listing_pages_read", pages_at_stop,
                   expected=f"<= {max_pages}" if max_pages is not None else "stops")  # fmt: skip
    audit.evidence(
        "pagination_stopped_after_s", stopped_after if stopped else None, expected=f"<= {harness_bound}"
    )
    audit.expect("pagination_stopped_within_harness_bound", bool(stopped),
                 detail={"harness_bound_s": harness_bound, "pages_read": pages_at_stop,
                         "target_bounds": {"max_pages": max_pages, "max_s": max_s}})  # fmt: skip
    if not stopped:
        audit.conclude()  # the loop is still running: nothing else to measure
    audit.expect("pages_within_target_bound", max_pages is None or pages_at_stop <= max_pages,
                 detail={"pages_read": pages_at_stop, "max_pages": max_pages})  # fmt: skip

    # And the items read so far are processed, and nothing reads the listing any more.
    final = poll_until(lambda: (s := client.batch_state(batch_id)) in TERMINAL and s,
                       timeout=settle_timeout(audit, 2 * (max_pages or 50)), interval=0.05)  # fmt: skip
    state = final or client.batch_state(batch_id)
    items = client.items(batch_id)
    completed = sum(1 for v in items if v.state == "completed")
    audit.evidence("items_processed", f"{completed}/{len(items)} ({state})", expected="every item read")
    audit.expect("read_items_processed", state == "completed" and completed == len(items),
                 detail={"state": state, "completed": completed, "total": len(items)})  # fmt: skip
    pages_now = listing_calls(audit)
    audit.expect("no_listing_after_stop", pages_now == pages_at_stop,
                 detail={"pages_at_stop": pages_at_stop, "pages_now": pages_now})  # fmt: skip

    # The state says truncated and a warning was logged (evidence a user and an operator can see).
    with audit.deciding("state_says_truncated"):
        doc = client.progress(batch_id).body
        flag = audit.observe.batch_field(doc, "truncated")
        reason = audit.observe.batch_field(doc, "reason", optional=True)
        audit.evidence("state", {"status": state, "truncated": flag, "reason": reason},
                       expected="truncated")  # fmt: skip
        truncated = bool(flag) or "truncat" in str(reason or "").lower()
        audit.expect("state_says_truncated", truncated, detail={"progress": doc})
    with audit.deciding("truncation_logged_as_warning"):
        log_field(audit, "correlation_field")
        warned = warnings(audit, event="truncated", correlation=cid)
        first_warning = brief(audit, warned[0]) if warned else None
        audit.evidence("truncation_warning", first_warning, expected="a warning line")
        audit.expect("truncation_logged_as_warning", bool(warned), detail={"correlation_id": cid})
    audit.conclude()


@pytest.mark.audit(
    id="TEST-RR-SL02",
    needs=(
        "observe.items",
        "services.api",
        "services.worker",
    ),
)
def test_rr_sl02_item_errors_are_isolated(audit: ScenarioRun) -> None:
    # Given one worker (the loop goes through the items in order) and batches created before it
    # starts, so the provider can be scripted per item id.
    (worker,) = audit.workers(1)
    audit.stack.start(services=[audit.api])
    client = audit.client()
    isolated = client.batch_id_of(client.create_batch(N))
    flooded = client.batch_id_of(client.create_batch(N))
    first, second = items_by_seq(client, isolated), items_by_seq(client, flooded)
    poisoned = [second[s].id for s in range(1, 16)]  # 15 of 20: most items of the second batch
    with contextlib.ExitStack() as rules:
        rules.enter_context(audit.provider.rule(first[5].id, malformed=True))
        for item_id in poisoned:
            rules.enter_context(audit.provider.rule(item_id, malformed=True))
        # When the worker runs both batches.
        audit.stack.start_service(worker)
        state_1 = wait_terminal(audit, client, isolated, timeout=settle_timeout(audit, N))
        state_2 = wait_terminal(audit, client, flooded, timeout=settle_timeout(audit, N))

    # Then item 5 failed with its own error and was logged; items 6-20 went on.
    items = items_by_seq(client, isolated)
    five = items[5]
    error = None
    with contextlib.suppress(Undecidable):  # the error text is evidence; the state decides
        error = item_error(audit, five)
    audit.evidence("item_5", {"state": five.state, "error": error[-120:] if error is not None else None},
                   expected="failed (malformed)")  # fmt: skip
    audit.expect("item_5_failed", five.state == "failed", detail={"state": five.state, "error": error})
    with audit.deciding("item_5_logged"):
        logged = warnings(audit, item=five.id)
        last_line = brief(audit, logged[-1]) if logged else None
        audit.evidence("item_5_log", last_line, expected="an error line for item 5")
        audit.expect("item_5_logged", bool(logged), detail={"item_id": five.id})
    others = {s: v.state for s, v in items.items() if s != 5}
    not_done = {s: st for s, st in others.items() if st != "completed"}
    after_5 = sum(1 for s in range(6, N + 1) if others[s] == "completed")
    audit.evidence("items_6_to_20", f"{after_5}/{N - 5} completed", expected=f"{N - 5}/{N - 5} completed")
    audit.expect("other_items_completed", not not_done, detail={"not_completed": not_done})
    with audit.deciding("batch_partial"):
        require_state(audit, "partial")
        audit.evidence("batch_state", state_1, expected="partial")
        audit.expect("batch_partial", state_1 == "partial", detail={"state": state_1})
    called = {e["item_id"] for e in work_calls(audit)}
    audit.expect("items_after_5_called", all(items[s].id in called for s in range(6, N + 1)),
                 detail={"missing": [s for s in range(6, N + 1) if items[s].id not in called]})  # fmt: skip

    # And with most items malformed the loop stops early: over 50 % failed, the rest not called.
    rest = items_by_seq(client, flooded)
    calls = [e for e in work_calls(audit) if e["item_id"] in {v.id for v in rest.values()}]
    failed = sum(1 for v in rest.values() if v.state == "failed")
    never_called = [s for s, v in rest.items() if v.id not in {e["item_id"] for e in calls}]
    left_open = {s: rest[s].state for s in never_called if rest[s].state not in TERMINAL | {"dead"}}
    stop = {
        "provider_calls": len(calls),
        "failed": failed,
        "never_called": len(never_called),
        "state": state_2,
    }
    audit.evidence("early_stop", stop, expected=f"stops after > {N // 2} failures")
    audit.expect("loop_stopped_early", bool(never_called) and len(calls) < N,
                 detail={"calls": len(calls), "of": N})  # fmt: skip
    audit.expect("stopped_only_past_half", failed > N // 2, detail={"failed": failed, "threshold": N // 2})
    audit.expect("skipped_items_closed", not left_open, detail={"never_called_still_open": left_open})
    audit.conclude()
