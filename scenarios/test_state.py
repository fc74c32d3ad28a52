"""Reliability & Resilience Audit (seed 001), task 9: state accuracy (TEST-RR-S01, TEST-RR-S02).

Both scenarios drive the failure modes of the seed's TEST-RR-S01 table in one compact run, each on
its own batch and each at an exact point (a barrier inside the item's provider call, a log line
saying the create request is inside the server):

    server restart during request   kill the API while a create is in flight, retry with its key
    worker crash during processing  SIGKILL the worker inside item 2's call, restart it
    API call timeout                item 1's provider call hangs on every attempt
    partial batch completion        item 3 is rejected by the provider (422)
    user cancellation               cancel while items 3-5 are inside (or waiting for) their calls
    queue message lost              freeze the worker inside item 2's call; nobody tells the queue

S01 compares each mode's actual state with the seed's expected state; S02 runs every
impossible-state query afterwards. The seed's "storage upload failure" row has no counterpart in
a target without a storage step and is left out.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from harness.checkers.impossible import S02_INVARIANTS
from harness.errors import Undecidable
from harness.held import ended_with_its_worker
from harness.scenario import ScenarioRun
from harness.stack.timing import prefer, require_wait, waitable
from harness.target.client import ItemView, TargetClient
from harness.workload import (
    TERMINAL,
    item_error,
    items_by_seq,
    log_events,
    log_offset,
    poll_until,
    require_state,
    settle_timeout,
    wait_terminal,
    work_calls,
    worker_holding,
    workers_frozen,
)

#: a 2 s provider timeout leaves room to act while a call is held; 2 attempts keep the timeout mode
#: short. A running stack keeps its own: a provider timeout that leaves that room and can be waited
#: for, any attempts (the timeout mode derives what it waits for and expects, ``hung_call_end``).
TIMING = {"provider_timeout_s": waitable(2.0, at_least=2.0), "max_attempts": prefer(2, at_least=1)}


@dataclass(kw_only=True)
class Mode:
    """One row of the seed's table: failure mode, expected state, actual state, accurate?"""

    mode: str
    expected: str
    actual: str = "not reached"
    ok: bool = False

    def row(self) -> dict[str, object]:
        return {"mode": self.mode, "expected": self.expected, "actual": self.actual, "accurate": self.ok}


def calls_after(audit: ScenarioRun, item_id: str, since: float) -> int:
    return sum(1 for e in work_calls(audit) if e["item_id"] == item_id and float(e["arrived_at"]) >= since)


def output_of(audit: ScenarioRun, item: ItemView) -> str:
    stored = audit.observe.item_field(item, "output") not in (None, "", {})
    return "output stored" if stored else "no output"


# -- the failure modes -----------------------------------------------------------------------------
def server_restart_during_request(audit: ScenarioRun, client: TargetClient) -> Mode:
    """Kill the API while a create request is inside it (its DB link slowed), retry with the key."""
    mode = Mode(mode="server restart during request", expected="queued (committed once) or failed")
    key, cid = str(uuid.uuid4()), f"audit-s01-{uuid.uuid4().hex[:12]}"
    api, api_db = audit.api, audit.link(audit.api, "db")
    since = log_offset(audit, api)

    # the one create in flight, by its correlation id when the target logs one
    by_id = cid if audit.stack.target.logs.correlation_field is not None else None

    def received() -> list[dict[str, object]]:
        return log_events(audit, api, since=since, event="create_received", correlation=by_id)

    received()  # a target that does not log the moment: unknown here, not a timeout below
    audit.faults.latency(api_db, 300)

    def cut_request() -> None:
        with contextlib.suppress(Exception):  # the answer never comes: the API dies under it
            client.fresh("client-cut").create_batch(3, key=key, correlation_id=cid, timeout=10)

    first = threading.Thread(target=cut_request, daemon=True)
    first.start()
    audit.wait_for("the create request to be inside the API", received, timeout=10)
    audit.faults.kill(api)
    audit.faults.heal_latency(api_db)
    audit.faults.restart(api)
    first.join(10)
    retries = [client.create_batch(3, key=key, correlation_id=cid) for _ in range(2)]
    ids = {client.batch_id_of(a) for a in retries if a.ok}
    state = client.batch_state(next(iter(ids))) if len(ids) == 1 else "?"
    mode.actual = f"{state}, {len(ids)} batch(es) for the key"
    mode.ok = len(ids) == 1 and state in ("queued", "failed")
    return mode


def crash_mode(audit: ScenarioRun, client: TargetClient, job: str, crash_at: float) -> Mode:
    expected = "redelivered after the lease, completed with its output (or timeout/failed)"
    mode = Mode(mode="worker crash during processing", expected=expected)
    item = items_by_seq(client, job)[2]
    again = calls_after(audit, item.id, crash_at)
    mode.actual = f"{item.state}, {output_of(audit, item)}, {again} provider call(s) after the crash"
    mode.ok = (
        item.state == "completed" and output_of(audit, item) == "output stored" and again >= 1
    ) or item.state in (
        "timeout",
        "failed",
    )
    return mode


def hung_call_end(timing: Mapping[str, Any], *, has_deadline: bool) -> tuple[str, float]:
    """What ends an item whose provider call hangs on every attempt, on a stack with ``timing``, and
    when (at the latest).

    Its attempts end after ``max_attempts`` provider timeouts (and backoff): ``"attempts"``. A batch
    deadline shorter than that ends it first: ``"deadline"`` (the item's state is then the
    deadline's, whatever its first attempts recorded: a stack whose deadline is not longer than its
    provider timeout never sees a call time out at all). A wait past the budget for a running
    stack's timings is ``unknown`` (``require_wait``).
    """
    attempts_s = int(timing["max_attempts"]) * (float(timing["provider_timeout_s"]) + 1.0)
    ended_by, wait_s = "attempts", attempts_s
    if has_deadline and float(timing["batch_deadline_s"]) < attempts_s + 2.0:
        ended_by, wait_s = "deadline", float(timing["batch_deadline_s"])
    key = "batch_deadline_s" if ended_by == "deadline" else "provider_timeout_s"
    require_wait(key, wait_s, why="the API call timeout mode (a call that hangs on every attempt)")
    return ended_by, wait_s


def timeout_mode(audit: ScenarioRun, client: TargetClient, job: str, ended_by: str) -> Mode:
    item = items_by_seq(client, job)[1]
    error = item_error(audit, item)
    kind = audit.observe.item_field(item, "error_kind", optional=True)
    if ended_by == "attempts":
        mode = Mode(mode="API call timeout", expected="retrying, then failed (error: timeout)")
        mode.ok = item.state in ("retrying", "failed") and "timeout" in error.lower()
    else:  # the batch deadline of this stack ends the hung call before its attempts can
        deadline = audit.stack.timing["batch_deadline_s"]
        mode = Mode(mode="API call timeout", expected=f"timeout or failed at the {deadline} s batch deadline "
                    "(error: deadline or timeout; it ends the hung call before its attempts do)")  # fmt: skip
        named = any(w in error.lower() for w in ("deadline", "timeout"))
        mode.ok = item.state in ("timeout", "failed") and named
    mode.actual = f"{item.state} (error: {kind or error})"
    return mode


def partial_mode(client: TargetClient, job: str) -> Mode:
    mode = Mode(mode="partial batch completion", expected="partial (job); items completed + failed")
    states = sorted({v.state for v in client.items(job)})
    batch = client.batch_state(job)
    mode.actual = f"{batch} (job); items {'+'.join(states)}"
    mode.ok = batch == "partial" and states == ["completed", "failed"]
    return mode


def cancel_mode(audit: ScenarioRun, client: TargetClient) -> Mode:
    """Cancel while items 3-5 are held at the provider (or queued behind them)."""
    expected = "cancelled (job + remaining items); items done before keep their output"
    mode = Mode(mode="user cancellation during processing", expected=expected)
    with contextlib.ExitStack() as held:
        with workers_frozen(audit, audit.workers(2)):
            job = client.batch_id_of(client.create_batch(5))
            items = items_by_seq(client, job)
            gates = [held.enter_context(audit.provider.barrier(items[s].id)) for s in (3, 4, 5)]
        audit.wait_for(
            "a worker inside item 3, 4 or 5", lambda: any(g.state().arrived for g in gates), timeout=10
        )
        client.control("cancel", {"batch_id": job})
    state = wait_terminal(audit, client, job, timeout=settle_timeout(audit, 5))
    items = items_by_seq(client, job)
    # Items 1-2 may have finished just before or just after the cancel; items 3-5 could not.
    held_states = sorted({items[s].state for s in (3, 4, 5)})
    early = {s: f"{items[s].state} ({output_of(audit, items[s])})" for s in (1, 2)}
    mode.actual = f"{state} (job); items 3-5 {'+'.join(held_states)}; items 1-2 {early}"
    mode.ok = (
        state == "cancelled"
        and held_states == ["cancelled"]
        and all(v in ("completed (output stored)", "cancelled (no output)") for v in early.values())
    )
    return mode


def lost_message_mode(audit: ScenarioRun, client: TargetClient) -> Mode:
    """Freeze the worker inside item 2's call: its claim is lost unless stuck detection notices."""
    expected = "stuck delivery detected (lease expired), taken over, completed with its output"
    mode = Mode(mode="queue message lost (stuck detection)", expected=expected)
    with contextlib.ExitStack() as held:
        with workers_frozen(audit, audit.workers(2)):
            job = client.batch_id_of(client.create_batch(3))
            item_id = items_by_seq(client, job)[2].id
            gate = held.enter_context(audit.provider.barrier(item_id))
        gate.wait(timeout=10)
        frozen = worker_holding(audit, client, job, 2)
        audit.faults.pause(frozen)
        lost_at = time.monotonic()
    state = wait_terminal(audit, client, job, timeout=settle_timeout(audit, 3))
    # It wakes with a stale claim and acts on it (its write must change nothing: TEST-RR-S02).
    woke = log_offset(audit, frozen)
    audit.faults.resume(frozen)
    # (bounded: a target that does not log its items' ids only makes S02 look a little earlier)
    poll_until(lambda: log_events(audit, frozen, since=woke, item=item_id),
               timeout=3 * float(audit.stack.timing["lease_s"]))  # fmt: skip
    item = items_by_seq(client, job)[2]
    again = calls_after(audit, item_id, lost_at)
    output = output_of(audit, item)
    mode.actual = f"{item.state}, {output}, {again} provider call(s) after the loss (batch {state})"
    mode.ok = item.state == "completed" and output == "output stored" and again >= 1
    return mode


#: each mode's check (S01 records one per mode: ``accurate: <mode>``)
RESTART, CRASH, TIMEOUT, PARTIAL, CANCEL, LOST = (
    "server restart during request",
    "worker crash during processing",
    "API call timeout",
    "partial batch completion",
    "user cancellation during processing",
    "queue message lost (stuck detection)",
)


class ModeRunner:
    """Runs each failure mode inside its own block, so a mode the target cannot show (a log event, a
    call, a state it lacks) leaves only that mode undecided: S01 records it as its ``accurate:``
    check (unknown, or failed when the target file declares it lacks what the mode needs); S02,
    whose checks are the invariants, only notes that the mode did not run."""

    def __init__(self, audit: ScenarioRun, *, record: bool) -> None:
        self.audit, self.record = audit, record
        self.modes: list[Mode] = []
        self.not_run: dict[str, str] = {}

    @contextlib.contextmanager
    def mode(self, name: str) -> Iterator[None]:
        if self.record:
            with self.audit.deciding(f"accurate: {name}"):
                yield
        else:
            try:
                yield
            except Undecidable as exc:
                self.not_run[name] = str(exc)

    def add(self, mode: Mode) -> None:
        self.modes.append(mode)
        if self.record:
            self.audit.expect(f"accurate: {mode.mode}", mode.ok, detail=mode.row())


def run_failure_modes(audit: ScenarioRun, *, record: bool) -> ModeRunner:
    """The compact run: every failure mode on its own batch (S01 records each mode's check)."""
    audit.stack.start(services=[audit.api], timing=TIMING)
    client = audit.client()
    run = ModeRunner(audit, record=record)
    hung: str | None = None  # what ends the hung call on this stack (None: past the wait budget)
    with run.mode(TIMEOUT):
        has_deadline = audit.stack.target.timing.batch_deadline_s is not None
        hung, _ = hung_call_end(audit.stack.timing, has_deadline=has_deadline)
    with run.mode(RESTART):
        run.add(server_restart_during_request(audit, client))

    # Crash, API timeout and partial completion run side by side on three batches (a target that
    # declares it has no 'partial' state fails that mode at once, without its batch).
    crash_job = client.batch_id_of(client.create_batch(3))
    timeout_job = client.batch_id_of(client.create_batch(2)) if hung else None
    partial_job = None
    with run.mode(PARTIAL):
        require_state(audit, "partial")
        partial_job = client.batch_id_of(client.create_batch(5))
    crash_at, victim = None, None
    with contextlib.ExitStack() as faults:
        if timeout_job is not None:
            faults.enter_context(audit.provider.rule(items_by_seq(client, timeout_job)[1].id, hang=True))
        if partial_job is not None:
            faults.enter_context(audit.provider.rule(items_by_seq(client, partial_job)[3].id, status=422))
        with audit.provider.barrier(items_by_seq(client, crash_job)[2].id) as held:
            for worker in audit.workers(2):
                audit.stack.start_service(worker)
            held.wait(timeout=settle_timeout(audit, 3))
            with run.mode(CRASH):
                victim = worker_holding(audit, client, crash_job, 2)
                audit.faults.kill(victim)
                killed_at = time.monotonic()
                ended_with_its_worker(audit, held.id)  # never answered to the dead process
                crash_at = killed_at
        if victim is not None:
            audit.faults.restart(victim)
        jobs = [b for b in (crash_job, timeout_job, partial_job) if b is not None]
        audit.wait_for("the crash, timeout and partial batches to settle",
                       lambda: all(client.batch_state(b) in TERMINAL for b in jobs),
                       timeout=settle_timeout(audit, 10))  # fmt: skip
    if crash_at is not None:
        with run.mode(CRASH):
            run.add(crash_mode(audit, client, crash_job, crash_at))
    if timeout_job is not None and hung is not None:
        with run.mode(TIMEOUT):
            run.add(timeout_mode(audit, client, timeout_job, hung))
    if partial_job is not None:
        with run.mode(PARTIAL):
            run.add(partial_mode(client, partial_job))
    with run.mode(CANCEL):
        require_state(audit, "cancelled")
        run.add(cancel_mode(audit, client))
    with run.mode(LOST):
        run.add(lost_message_mode(audit, client))
    return run


# -- the scenarios ---------------------------------------------------------------------------------
#: what ``run_failure_modes`` needs to run at all (each mode's own fields are its check's reads)
FAILURE_MODES_NEEDS = (
    "observe.items",
    "services.api",
    "services.worker*2",
)
#: what the modes use when the target has it (S02 runs each mode it can, and notes the others)
MODE_FIELDS = (
    "control.cancel",
    "links.db",
    "logs.correlation_field",
    "logs.events.create_received",
    "logs.item_field",
    "observe.item_fields.error_kind",
    "observe.item_fields.error_message",
    "observe.item_fields.error_status",
    "observe.item_fields.holder",
    "observe.item_fields.output",
    "observe.states.cancelled",
    "observe.states.partial",
)


@pytest.mark.audit(id="TEST-RR-S01", needs=FAILURE_MODES_NEEDS)
def test_rr_s01_state_after_each_failure_mode(audit: ScenarioRun) -> None:
    # Given / When: every failure mode of the seed's table, in one compact run.
    run = run_failure_modes(audit, record=True)
    # Then the actual state equals the expected state for every mode (recorded mode by mode).
    audit.evidence("state_table", [m.row() for m in run.modes])
    audit.conclude()


@pytest.mark.audit(id="TEST-RR-S02", needs=(*FAILURE_MODES_NEEDS, *(f"{f}?" for f in MODE_FIELDS)))
def test_rr_s02_no_impossible_states(audit: ScenarioRun) -> None:
    # Given / When: the same failure modes (each one the target can show).
    run = run_failure_modes(audit, record=False)
    audit.evidence("failure_modes_run", [m.mode for m in run.modes])
    if run.not_run:
        audit.evidence("failure_modes_not_run", run.not_run)
    # Then none of the impossible-state queries returns a row.
    rows = {}
    for name in S02_INVARIANTS:
        result = audit.check(audit.invariants().check(name))
        rows[name] = result.evidence.get("rows")
    audit.evidence("impossible_state_rows", rows, expected={name: 0 for name in rows})
    audit.conclude()
