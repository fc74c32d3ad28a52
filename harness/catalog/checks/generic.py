"""The fix for a check that several scenarios share (an invariant or a ledger checker), by its name.

An impossible state seen during any scenario (a roll-up mismatch, an item stuck in processing) is
reported as that invariant with this fix, not under the scenario's headline: TEST-RR-Q01 failing on
a roll-up race is a roll-up bug, not a queue-durability one.
"""

from __future__ import annotations

from harness.catalog.checks import _text

FIXES: dict[str, str] = {
    "stuck_processing": """Nothing may stay 'processing' past the job's maximum duration: give every claim a
        lease renewed by heartbeat, let a sweeper (or any worker) reclaim or time out items whose lease
        expired, and enforce a job-level deadline that marks the work 'timeout'.""",
    "stuck_batches": """Close batches whose items are all finished: roll the batch state up from its items
        in the same transaction that finishes the last item, so no batch stays open with nothing left.""",
    "completed_without_output": """Commit an item's 'completed' state and its output in one transaction;
        never mark an item completed before (or without) storing its result.""",
    "processing_with_dead_worker": """Detect dead workers: heartbeat each claim, and reclaim items whose
        holder stopped heartbeating (lease expiry) instead of leaving them 'processing'.""",
    "completed_batch_with_failed_items": """Roll the batch up from its items: completed only when every
        item completed; some completed and some failed is 'partial', never 'completed'.""",
    "duplicate_outputs": """Store at most one output per item: a UNIQUE constraint on the item's result
        and a write fenced on the current lease (UPDATE ... WHERE worker_id = ? AND fencing_token = ?).""",
    "completed_twice": """Complete an item once: a conditional UPDATE ... WHERE status <> 'completed' AND
        fencing_token = ? (0 rows = lost ownership, drop the result) instead of an unconditional write.""",
    "illegal_transitions": """Allow only legal state transitions (e.g. never completed -> processing):
        check the current state in every UPDATE's WHERE clause, or enforce the graph with a trigger.""",
    "attempts_over_limit": """Bound automatic provider attempts per item: count them durably and stop
        retrying (failed, with the last error) at the limit.""",
    "deliveries_over_limit": """Bound deliveries per item: count them durably and move an item that keeps
        failing (a poison item) to a dead-letter state after N deliveries.""",
    "batch_rollup_mismatch": """Derive the batch's state from its items under a lock (or in one statement)
        so that two workers finishing together cannot both write an intermediate state: recompute the
        roll-up from the item rows (SELECT ... FOR UPDATE on the batch) after every item change.""",
    "exactly_once": """Call the provider once per item: claim atomically (FOR UPDATE SKIP LOCKED or a
        conditional UPDATE), checkpoint each item's completion, and reuse the item's idempotency key on
        any repeated call.""",
    "same_idempotency_key": """Send the same idempotency key on every call for the same item (derive it
        from the item id, not per attempt), so the provider can deduplicate a repeated call.""",
    "calls_only_for": """Retry only what was asked for: select the items to requeue by id and state
        (failed / timeout); never requeue completed items.""",
    "not_called_again": """Never call the provider again for an item that completed: resume from the
        item checkpoint (status <> 'completed'), never from the start of the batch.""",
    "no_calls_during": """Stop calling a provider that is down: a shared circuit breaker that opens after
        3-5 consecutive failures and probes once per cooldown.""",
}


def generic_fix(check_name: str) -> str | None:
    """The shared fix of a check by its name (the part before a ``.``-prefix such as ``owner.``)."""
    text = FIXES.get(check_name) or FIXES.get(check_name.rsplit(".", 1)[-1])
    return _text(text) if text else None
