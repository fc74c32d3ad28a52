"""Reliability & Resilience Audit (seed 001), task 6: resume (TEST-RR-RE01, TEST-RR-RE02).

RE01 crashes a worker inside an item and never restarts it: the other worker must take the item
over once the lease expires. RE02 kills the API inside a create request (its database link slowed
so the kill lands mid-request, at two observed points: before and after the commit) and retries
with the same idempotency key.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import pytest

from harness.checkers.ledger import exactly_once, not_called_again, same_idempotency_key
from harness.errors import ObservationMissing, Undecidable
from harness.held import ended_with_its_worker
from harness.scenario import ScenarioRun
from harness.workload import (
    items_by_seq,
    ledger,
    log_events,
    log_offset,
    poll_until,
    settle_timeout,
    wait_terminal,
    work_calls,
)

N = 20
#: added to each API -> database round trip, so a create request takes ~2 s and a kill can land inside it
DB_LATENCY_MS = 300


def _human_steps(audit: ScenarioRun, *, since: float) -> list[str]:
    """Control calls and restarts the history records after ``since`` (recovery must need none)."""
    controls = {"cancel", "retry_item", "retry_failed", "recover"}
    ops = [
        f"{o.f}" for o in audit.history.ops() if o.time >= since and o.type == "invoke" and o.f in controls
    ]
    restarts = [
        f"restart {f.target}" for f in audit.history.faults() if f.time >= since and f.name == "restart"
    ]
    return ops + restarts


@pytest.mark.audit(id="TEST-RR-RE01", needs=("services.api", "services.worker*2", "observe.items"))
def test_rr_re01_lease_expiry_takeover(audit: ScenarioRun) -> None:
    # Given worker 1 inside item 8 (its call held), items 1-7 done, and a second worker running
    # (it joins before the crash: after the crash the harness only watches).
    w1, w2 = audit.workers(2)
    audit.stack.start(services=[audit.api, w1])
    lease_s = float(audit.stack.timing["lease_s"])
    client = audit.client()
    with audit.provider.barrier(nth=8) as held:
        batch_id = client.batch_id_of(client.create_batch(N))
        held.wait(timeout=settle_timeout(audit, N))
        audit.stack.start_service(w2)
        in_flight = next(e for e in work_calls(audit) if e.get("nth") == 8)
        done_at_kill = [e["item_id"] for e in work_calls(audit) if e.get("outcome") == "ok"]
        # When worker 1 is SIGKILLed, and nobody restarts it.
        audit.faults.kill(w1)
        killed_at = time.monotonic()
        ended_with_its_worker(audit, held.id)  # its held call ends unanswered, not answered to the dead

    # Then the item's lease expires and worker 2 takes it over (our bound: 3 leases + 2 s).
    def repeated() -> dict[str, Any] | None:
        calls = work_calls(audit)
        return next(
            (e for e in calls if e["item_id"] == in_flight["item_id"] and e["arrived_at"] > killed_at), None
        )

    again = poll_until(repeated, timeout=3 * lease_s + 2, interval=0.1)
    took = round(again["arrived_at"] - killed_at, 2) if again else None
    audit.evidence("takeover_after_s", took, expected=f"~lease ({lease_s} s), < {3 * lease_s + 2}")
    audit.expect("lease_expired_item_taken_over", again is not None, detail={"bound_s": 3 * lease_s + 2})
    final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, N)) if again else None

    # And all 20 completed with 20 successful calls, the repeated call reusing its key, no human step.
    entries = ledger(audit)
    items = items_by_seq(client, batch_id)
    completed = [v.id for v in items.values() if v.state == "completed"]
    audit.evidence("final", f"{final}, {len(completed)}/{N} completed", expected=f"completed, {N}/{N}")
    audit.expect("batch_completed", final == "completed" and len(completed) == N, detail={"state": final})
    once = audit.check(exactly_once(entries, completed))
    audit.evidence("successful_calls", once.evidence.get("successful_calls"), expected=N)
    # the taken-over item's calls, judged (as evidence of the same name) by the check over every item
    taken = [e for e in work_calls(audit) if e["item_id"] == in_flight["item_id"]]
    keys = {str(e.get("idempotency_key")) for e in taken}
    audit.evidence(
        "same_idempotency_key",
        f"{len(taken)} calls for the taken-over item, {len(keys)} distinct key(s)",
        expected="one key for every call of an item",
    )
    audit.check(same_idempotency_key(entries))
    audit.check(not_called_again(entries, done_at_kill, since=killed_at))
    human = _human_steps(audit, since=killed_at)
    audit.evidence("human_steps_after_kill", human, expected=[])
    audit.expect("no_human_step", not human, detail={"steps": human})
    audit.check(audit.invariants().check("duplicate_outputs", batch_id=batch_id))
    audit.conclude()


# -- TEST-RR-RE02 ---------------------------------------------------------------------------------
def _batch_ids(audit: ScenarioRun) -> list[str]:
    """Every batch in the target's store (the ground truth of "created once")."""
    return [b.batch_id for b in audit.observe.batches()]


def _boot(audit: ScenarioRun) -> Any:
    """The health endpoint's identity of the running API process (changes on every restart), or
    why the target cannot show it (only the health check reads it)."""
    try:
        return audit.observe.health_field(audit.client("health").health().body, "boot_id")
    except Undecidable as exc:
        return exc


def _kill_api_mid_create(
    audit: ScenarioRun, *, phase: str, after_commit: bool
) -> tuple[dict[str, Any], Undecidable | None]:
    """Kill the API inside one create request, restart it, retry with the same key; what happened,
    and why the health endpoint could not show the restart (None: it could)."""
    key, n = f"rr-re02-{phase}-{audit.seed}", 5
    if not audit.stack.target.trigger.correlation_header:  # how the API's log names this request
        raise ObservationMissing("trigger.correlation_header")
    api, api_db = audit.api, audit.link(audit.api, "db")
    before, boot = _batch_ids(audit), _boot(audit)
    offset = log_offset(audit, api)
    audit.faults.latency(api_db, DB_LATENCY_MS)
    with ThreadPoolExecutor(max_workers=1) as pool:
        client = audit.client(f"{phase}-client")
        request = pool.submit(client.create_batch, n, key=key, correlation_id=key, timeout=30)

        def received() -> bool:
            return bool(log_events(audit, api, since=offset, event="create_received", correlation=key))

        def at_kill_point() -> bool:
            if request.done():
                return False
            if after_commit:  # the create committed, its answer not sent yet
                return len(_batch_ids(audit)) > len(before)
            # the API has the request (it logged its receipt) and nothing is committed yet
            return received() and _batch_ids(audit) == before

        reached = poll_until(at_kill_point, timeout=10) is not None
        audit.faults.kill(api)
        wait([request], timeout=10)
    answered = request.done() and request.exception() is None
    committed = [b for b in _batch_ids(audit) if b not in before]
    audit.faults.heal_latency(api_db)
    audit.faults.restart(api)
    retry = audit.client(f"{phase}-retry").create_batch(n, key=key)
    created = [b for b in _batch_ids(audit) if b not in before]
    boot_after = _boot(audit)
    health_missing = next((b for b in (boot, boot_after) if isinstance(b, Undecidable)), None)
    return {
        "in_flight_at_kill": reached and not answered,
        "committed_before_retry": committed,
        "retry_status": retry.status,
        "retry_batch": audit.client().batch_id_of(retry) if retry.ok else None,
        "batches_for_key": created,
        "restarted": None if health_missing else boot_after != boot,
    }, health_missing


@pytest.mark.audit(
    id="TEST-RR-RE02",
    needs=(
        "services.api",
        "services.worker",
        "links.db",
        "observe.items",
        "database.observations.batches",
        "logs.events.create_received",
        "logs.correlation_field",
    ),
)
def test_rr_re02_api_restart_mid_request(audit: ScenarioRun) -> None:
    # Given the API and one worker.
    (worker,) = audit.workers(1)
    audit.stack.start(services=[audit.api, worker])
    client = audit.client()
    for phase, after_commit in (("before_commit", False), ("after_commit", True)):
        # When the API's database link is slowed and the API is SIGKILLed inside a create request
        # (once before its commit, once after it), then restarted, and the client retries.
        o, health_missing = _kill_api_mid_create(audit, phase=phase, after_commit=after_commit)

        # Then the kill landed mid-request, the health endpoint shows the restart, and the retry
        # gives exactly one batch: the committed one if there was one, else a new one.
        audit.evidence(f"{phase}.kill_landed_mid_request", o["in_flight_at_kill"], expected=True)
        audit.expect(f"{phase}.kill_landed_mid_request", o["in_flight_at_kill"], detail=o)
        audit.evidence(f"{phase}.committed_at_kill", bool(o["committed_before_retry"]), expected=after_commit)
        with audit.deciding(f"{phase}.health_shows_restart"):
            if health_missing is not None:
                raise health_missing
            audit.evidence(f"{phase}.health_shows_restart", o["restarted"], expected=True)
            audit.expect(f"{phase}.health_shows_restart", bool(o["restarted"]), detail=o)
        one = o["batches_for_key"] == [o["retry_batch"]]
        same = o["committed_before_retry"] in ([], [o["retry_batch"]])
        audit.evidence(f"{phase}.batches_after_retry", len(o["batches_for_key"]), expected=1)
        audit.expect(f"{phase}.retry_gives_one_batch", o["retry_status"] < 300 and one and same, detail=o)

    # And no duplicate side effects: two batches in all, each of their items called successfully once.
    batch_ids = _batch_ids(audit)
    for batch_id in batch_ids:
        wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, 5))
    completed = [v.id for b in batch_ids for v in client.items(b) if v.state == "completed"]
    audit.evidence("batches", len(batch_ids), expected=2)
    once = audit.check(exactly_once(ledger(audit), completed))
    audit.evidence("successful_calls", once.evidence.get("successful_calls"), expected=10)
    detail = {"batches": len(batch_ids), "completed_items": len(completed)}
    audit.expect(
        "two_batches_ten_items_completed", len(batch_ids) == 2 and len(completed) == 10, detail=detail
    )
    audit.conclude()
