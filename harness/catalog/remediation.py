"""What to change in the target when a scenario fails: one concrete remediation per catalogue id.

An audit that only says "FAIL" sends the team back to the seeds to work out the fix; the seeds'
Post-Audit Deliverables ask for "remediation recommendations with effort estimates". Each text says
what to change in the target (a query, a constraint, a timeout), not what the test did. Effort is
a rough size: S (hours), M (a few days), L (a larger redesign).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Remediation:
    """The fix for a failed scenario and a rough effort estimate."""

    text: str
    effort: str


def _r(effort: str, text: str) -> Remediation:
    return Remediation(text=" ".join(text.split()), effort=effort)


REMEDIATIONS: dict[str, Remediation] = {
    "TEST-RR-001": _r(
        "M",
        """Run the workflow outside the request: the create endpoint only persists the batch and its items,
        enqueues them and returns the batch id; workers process the items, so a client disconnect or
        page reload cannot cancel work. Serve progress from the database by batch id, and make a
        re-trigger return the in-progress batch (idempotency key or an 'already in progress' check).""",
    ),
    "TEST-RR-002": _r(
        "S",
        """Make batch creation idempotent: store the Idempotency-Key under a UNIQUE constraint in the same
        transaction that inserts the batch and, on conflict, return the existing batch (same id) or a
        clear 409; without a key, deduplicate identical payloads within a short window by a request
        hash. A check-then-insert without the constraint still races.""",
    ),
    "TEST-RR-003": _r(
        "S",
        """Decouple job state from the HTTP request: a client that disconnects or times out must not change
        the batch's state. Remove any 'on disconnect: fail / timeout' handler, let the worker commit
        'completed', and let the client read the stored result by id later.""",
    ),
    "TEST-RR-004": _r(
        "M",
        """Checkpoint per item: commit each item's completion (status completed + output) in its own
        transaction as soon as it is done, and on restart claim only items WHERE batch_id = ? AND status
        <> 'completed'. Never restart a batch from item 1; batch progress is a roll-up of the item
        states.""",
    ),
    "TEST-RR-005": _r(
        "M",
        """Enumerate every state in code (an enum plus a DB CHECK constraint), including 'partial' (some
        items completed, some failed) and 'timeout' (deadline exceeded). Roll the batch up from its
        items (all completed: completed; mixed: partial; none: failed), record a deadline overrun as
        'timeout' rather than 'failed', and report the same state through the API and the database.""",
    ),
    "TEST-RR-006": _r(
        "M",
        """Fence every write: claim with a lease (worker_id, lease_expires_at) and a fencing token
        incremented on every claim; write results only while holding the lease, in one UPDATE ... WHERE
        id = ? AND worker_id = ? AND fencing_token = ?, and treat 0 rows updated as lost ownership (back
        off, do not retry the write). Keep the lease shorter than the job timeout and renew it by
        heartbeat.""",
    ),
    "TEST-RR-007": _r(
        "S",
        """Keep progress server-side and durable: derive it from the item rows (count by status per batch)
        on every read instead of an in-process counter or cache, so a restarted API, another instance or
        a fresh client session sees the same, never-decreasing numbers.""",
    ),
    "TEST-RR-008": _r(
        "M",
        """Record provider failures per item with a specific error kind (provider_5xx, timeout,
        provider_4xx...), the provider's status and a response excerpt; log them with the item and
        correlation ids; keep completed items untouched; make 'retry failed' requeue only items in
        failed / timeout states; show a summary a user can act on ('3 items failed due to provider
        500').""",
    ),
    "TEST-RR-T01": _r(
        "S",
        """Set explicit connect and read timeouts on every provider call (a read timeout of about 30 s in
        production), classify an expiry as error kind 'timeout', release the connection, and send the
        item through the normal retry policy to retrying / failed so nothing stays 'processing'.""",
    ),
    "TEST-RR-T02": _r(
        "M",
        """Add a job-level deadline independent of per-call timeouts: store deadline_at on the batch when
        it starts and have a watchdog (or each worker loop) abandon in-flight work and mark the batch
        'timeout' when it passes, preserving completed items and logging an alert. A per-read timeout
        cannot stop a trickling response; a wall-clock deadline can.""",
    ),
    "TEST-RR-P01": _r(
        "S",
        """Isolate per-item errors: process each item in its own try/except and transaction, mark only that
        item failed with its error kind, continue with the next item, and roll the batch up to 'partial'
        (19/20) instead of failed. Treat a non-retryable 4xx as permanent for that item only, and allow
        retrying that single item.""",
    ),
    "TEST-RR-P02": _r(
        "M",
        """Put a circuit breaker shared by all workers around the provider client: open after 3-5
        consecutive failures, stop attempting items while it is open (leave them queued and show
        'paused: provider unavailable'), probe once after a cooldown, and close on success so the batch
        resumes without intervention.""",
    ),
    "TEST-RR-R01": _r(
        "S",
        """Make 'retry item' selective and bounded: requeue exactly that item with the same input and
        idempotency key, increment its retry_count, refuse once the retry limit is reached, and leave
        completed items untouched; the batch rolls up to completed when the retry succeeds.""",
    ),
    "TEST-RR-R02": _r(
        "S",
        """Make 'retry all failed' select only items WHERE batch_id = ? AND status IN ('failed',
        'timeout'), requeue them in one transaction and increment each retry_count: one provider call
        per failed item, none for completed items.""",
    ),
    "TEST-RR-R03": _r(
        "S",
        """Make the retry guard atomic: move the item with one conditional UPDATE ... SET status = 'queued'
        WHERE id = ? AND status IN ('failed', 'timeout') RETURNING id (or lock the row with SELECT ...
        FOR UPDATE) and answer 409 'retry already in progress' when no row changed, instead of
        check-then-act.""",
    ),
    "TEST-RR-RE01": _r(
        "M",
        """Recover abandoned work without a human: give every claim a lease renewed by heartbeat, let any
        worker (or a sweeper) reclaim items whose lease expired (status processing AND lease_expires_at
        < now()), and reuse the item's idempotency key on the repeated provider call so the provider
        deduplicates it.""",
    ),
    "TEST-RR-RE02": _r(
        "S",
        """Make create idempotent across crashes: persist the idempotency key in the same transaction as
        the batch (UNIQUE constraint) so a client retry after an API crash returns the committed batch
        or creates it exactly once; perform no side effect before that commit; have the health endpoint
        report the process start time so clients can see the restart.""",
    ),
    "TEST-RR-SL01": _r(
        "S",
        """Bound every loop over an external source: cap the pages / items and the wall-clock duration,
        stop on an empty page, and when a bound is hit stop, log a warning and mark the batch truncated
        (visible through the API).""",
    ),
    "TEST-RR-SL02": _r(
        "S",
        """Catch unexpected exceptions per item (including malformed provider responses): mark that item
        failed with its error kind, log it, continue with the next item, and stop the loop early when
        the error rate passes a threshold (e.g. 50 %).""",
    ),
    "TEST-RR-Q01": _r(
        "S",
        """Use a durable queue: keep queued jobs in logged (WAL-backed) tables, or a broker with durable
        queues and persistent messages (e.g. RabbitMQ durable + persistent delivery, Redis with AOF),
        and acknowledge only after the work is committed. Never an UNLOGGED table or an in-memory list.""",
    ),
    "TEST-RR-Q02": _r(
        "M",
        """Redeliver unacknowledged jobs after a visibility timeout shorter than the job timeout, process
        redeliveries idempotently (same idempotency key, one result per item), count deliveries, and
        move an item to a dead-letter state with an alert after N deliveries instead of redelivering it
        forever.""",
    ),
    "TEST-RR-Q03": _r(
        "M",
        """Bound what a worker takes: claim one item (or a small prefetch) at a time with FOR UPDATE SKIP
        LOCKED, order claims by priority then age so priority jobs overtake the bulk, keep accepting
        jobs into the durable queue under load, and expose queue depth as a metric with an alert.""",
    ),
    "TEST-RR-S01": _r(
        "M",
        """Make each failure mode end in its true state: an item taken over after a crash is run again
        (same idempotency key) or marked failed / timeout, never assumed completed because a provider
        call was made; cancellation marks the batch and its remaining items cancelled; mixed batches are
        'partial'. Derive states from recorded outcomes only.""",
    ),
    "TEST-RR-S02": _r(
        "M",
        """Make impossible states impossible: one roll-up function marks a batch completed only when every
        item is completed, a completed item always carries its output, results are UNIQUE per item,
        transitions out of terminal states are rejected (trigger or conditional UPDATE), and
        'processing' rows past the maximum duration are detected and timed out.""",
    ),
    "TEST-RR-O01": _r(
        "S",
        """Log every failure with its root cause as structured fields (error kind, provider status and
        response excerpt, item id, batch id, correlation id) at level error, instead of a generic
        'Unknown error', so the diagnosis can be found from the correlation id alone.""",
    ),
    "TEST-RR-O02": _r(
        "S",
        """Create a correlation id at the API (or accept X-Correlation-Id), store it with the batch, pass
        it to the workers and to the provider in a header, and log it on every step (received, enqueued,
        claimed, provider call with status and duration, stored, completed) with per-step durations.""",
    ),
    "TEST-WR-001": _r(
        "S",
        """Classify step failures (timeout, connection error, 5xx, 429 are transient; 4xx and malformed
        answers are not) and retry transient ones automatically up to 3 attempts with exponential
        backoff, keeping the step's state 'retrying' in the database between attempts (not a sleep in
        memory), reusing the step's idempotency key, and logging each retry with the workflow's
        correlation id, the attempt number and the error.""",
    ),
    "TEST-WR-002": _r(
        "M",
        """When a step's retries are exhausted, move the step and the workflow to 'failed' in one
        transaction with the failure reason, and store a user notification ('Step failed after
        multiple attempts: <step> (<error>)') in the same transaction so it survives an offline user
        or a lost connection; offer 'retry step' (a fresh round of attempts for that step only) and
        'skip step' for optional steps, refusing to skip a required one.""",
    ),
    "TEST-WR-003": _r(
        "S",
        """Guard POST /workflows/{id}/recover: 401 without credentials, 403 unless the caller owns the
        workflow or is an admin (check ownership on the loaded row, not only that a user is logged in),
        409 unless the workflow is failed or interrupted; resume by requeueing only the first step that
        is neither completed nor skipped, keeping every stored step result (the checkpoint).""",
    ),
    "TEST-WR-004": _r(
        "M",
        """Run a start-up recovery service: when the server starts, find workflows left running whose
        current step has no live holder (lease expired, worker not heartbeating or restarted) and
        interrupted ones, resume each from its last checkpoint without a human, record the attempt, and
        store a notification for the owner ('recovered after a server restart: resuming at <step>').""",
    ),
    "TEST-WR-005": _r(
        "S",
        """Bound automatic recovery: count recovery attempts per workflow in the database and, past the
        limit (e.g. 2-3), stop recovering: mark the workflow failed with the reason ('automatic recovery
        gave up after N attempts'), flag it for manual intervention and notify the owner, instead of
        resuming a workflow that brings the server down every time.""",
    ),
    "TEST-WR-006": _r(
        "M",
        """Detect interrupted runs: a scheduled check marks running workflows without step activity
        (claim, heartbeat, commit) for longer than the threshold as 'interrupted' with the reason; resume
        runs only the steps not yet completed and builds each step's context from the completed steps'
        results stored in the database, never from memory of the crashed process.""",
    ),
    "TEST-WR-007": _r(
        "M",
        """Claim each step with a lease renewed by heartbeat and a fencing token incremented on every
        claim; reassign a step whose lease expired to another worker; make every write of the step
        (result, failure, lease renewal) UPDATE ... WHERE step = ? AND worker_id = ? AND fencing_token
        = ? and treat 0 rows as lost ownership, so a worker that wakes from a pause cannot commit
        again or overwrite the new holder's result.""",
    ),
    "TEST-WR-008": _r(
        "S",
        """Make the admin 'needs attention' list return every failed or interrupted workflow with its
        failure reason (failed step, error kind and status, or 'no step activity for N s'), stored on
        the workflow when it fails, so support can act without reading logs; keep the list admin-only.""",
    ),
}

GENERIC = _r(
    "M",
    """This scenario is outside the catalogue: read its violations and evidence, and fix the target so
    that the checks named there hold; then rerun the command below to confirm.""",
)


def remediation_for(scenario_id: str) -> Remediation:
    """The catalogue's remediation for ``scenario_id`` (a generic one for ids outside the catalogue)."""
    return REMEDIATIONS.get(scenario_id, GENERIC)
