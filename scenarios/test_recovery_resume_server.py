"""Recovery & Resume Audit (seed 000): interruptions on the server side (TEST-RR-004)."""

from __future__ import annotations

import time

import pytest

from harness.checkers.ledger import exactly_once, not_called_again, same_idempotency_key
from harness.scenario import ScenarioRun
from harness.workload import items_by_seq, ledger, settle_timeout, wait_terminal, work_calls

TASK = "Recovery & Resume"
N = 20


@pytest.mark.audit(
    id="TEST-RR-004", title="Interrupt batch at item 7/20, resume from item 8", task=TASK, severity="HIGH"
)
def test_rr_004_batch_resumes_from_checkpoint(audit: ScenarioRun) -> None:
    # Given one worker (so items run in order) and a barrier that holds the 8th provider call.
    audit.stack.start(services=["api", "worker-1"])
    client = audit.client()
    with audit.provider.barrier(nth=8) as held:
        batch_id = client.batch_id_of(client.create_batch(N))
        held.wait(timeout=settle_timeout(audit, N))  # the worker is inside item 8
        before = items_by_seq(client, batch_id)
        done_at_kill = sorted(s for s, v in before.items() if v.state == "completed")
        audit.faults.kill("worker-1")
        killed_at = time.monotonic()
    audit.evidence("state_at_kill", f"{len(done_at_kill)} done / {N - len(done_at_kill)} remaining", expected="7/13")
    audit.expect("items_1_to_7_completed_before_kill", done_at_kill == list(range(1, 8)), detail={"done": done_at_kill})

    # When the worker is restarted by hand.
    audit.faults.restart("worker-1")
    final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, N, extra=5))

    # Then processing resumed at item 8 and items 1-7 were never called again.
    items = items_by_seq(client, batch_id)
    seq_by_id = {v.id: s for s, v in items.items()}
    after = [e for e in work_calls(audit) if e["arrived_at"] >= killed_at]
    resumed_from = seq_by_id.get(after[0]["item_id"]) if after else None
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
