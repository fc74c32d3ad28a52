"""Recovery & Resume Audit (seed 000): interruptions on the server side.

Workers crash, lose their database link or meet a failing provider; states must stay honest
and every item must end with exactly one committed result (TEST-RR-004, -005, -006, -008).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from harness.checkers.ledger import (
    calls_only_for,
    exactly_once,
    not_called_again,
    same_idempotency_key,
    successful,
)
from harness.errors import CapabilityMissing, ObservationMissing, Undecidable
from harness.held import answered, cut_short, ended_with_its_worker
from harness.scenario import ScenarioRun
from harness.stack.timing import at_least, prefer, waitable
from harness.target.absence import declared_absent
from harness.target.client import TargetClient
from harness.workload import (
    TERMINAL,
    held_call,
    item_error,
    items_by_seq,
    ledger,
    log_events,
    log_offset,
    longest_failure_run,
    observed,
    poll_until,
    settle_timeout,
    wait_terminal,
    work_calls,
)

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


@pytest.mark.audit(id="TEST-RR-004", needs=("services.api", "services.worker", "observe.items"))
def test_rr_004_batch_resumes_from_checkpoint(audit: ScenarioRun) -> None:
    # Given one worker and a barrier that holds the 8th provider call (in order: items 1-7 done).
    (worker,) = audit.workers(1)
    audit.stack.start(services=[audit.api, worker])
    client = audit.client()
    with audit.provider.barrier(nth=8) as held:
        batch_id = client.batch_id_of(client.create_batch(N))
        held.wait(timeout=settle_timeout(audit, N))  # the worker is inside the 8th call
        inside = held_call(audit, held.id)  # the item that call is for: the item the kill interrupts
        earlier = {str(e["item_id"]) for e in work_calls(audit) if successful(e)}
        before = items_by_seq(client, batch_id)
        audit.faults.kill(worker)
        killed_at = time.monotonic()
        ended_with_its_worker(audit, held.id)  # its held call ends unanswered, not answered to the dead
    seq_by_id = {v.id: s for s, v in before.items()}
    killed_in = seq_by_id.get(str(inside["item_id"]))
    done_at_kill = sorted(s for s, v in before.items() if v.state == "completed")
    answered = sorted(seq_by_id.get(i, 0) for i in earlier)
    audit.evidence(
        "state_at_kill", f"{len(done_at_kill)} done / {N - len(done_at_kill)} remaining", expected="7/13"
    )
    audit.evidence("killed_inside_item", killed_in, expected=8)
    # the items the provider had answered before the kill are exactly the completed ones
    audit.expect(
        "items_1_to_7_completed_before_kill",
        bool(done_at_kill) and done_at_kill == answered and killed_in not in done_at_kill,
        detail={"done": done_at_kill, "provider_answered": answered, "killed_inside": killed_in},
    )

    # When the worker is restarted by hand.
    audit.faults.restart(worker)
    final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, N, extra=5))

    # Then processing resumed at the first unfinished item (the one killed) and the completed items
    # were never called again.
    items = items_by_seq(client, batch_id)
    seq_by_id = {v.id: s for s, v in items.items()}
    after = [e for e in work_calls(audit) if e["arrived_at"] >= killed_at]
    # The lowest item called after the restart: the first unfinished one for a per-item checkpoint,
    # 1 for a batch restart (robust to a target that runs a later item first while the killed
    # item's old lease is still held).
    called_after = [seq_by_id[e["item_id"]] for e in after if e["item_id"] in seq_by_id]
    resumed_from = min(called_after) if called_after else None
    unfinished = min((s for s in items if s not in done_at_kill), default=None)
    audit.evidence("resumed_from_item", resumed_from, expected=unfinished)
    audit.expect(
        "resumed_from_item_8",
        resumed_from == unfinished and killed_in in called_after,
        detail={"resumed_from": resumed_from, "first_unfinished": unfinished, "killed_inside": killed_in},
    )
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


@dataclass(frozen=True)
class StateSample:
    """One read of a batch's state: the API's, between two reads of the store (each a thunk that
    raises when the store cannot answer: the store is a second source, not a need)."""

    batch: str
    api: str
    db_before: Callable[[], str | None]
    db_after: Callable[[], str | None]

    def db_agrees(self, state: str) -> bool:
        return self.db_before() == self.api == self.db_after() == state

    def db_text(self) -> str:
        try:
            lo, hi = self.db_before(), self.db_after()
        except Undecidable:
            return "not observable"
        return str(lo) if lo == hi else f"{lo}->{hi}"


def state_sample(audit: ScenarioRun, client: TargetClient, name: str, batch_id: str) -> StateSample:
    """The API's batch state read between two reads of the database."""
    lo = observed(lambda: db_batch_state(audit, batch_id))
    api = client.batch_state(batch_id)
    hi = observed(lambda: db_batch_state(audit, batch_id))
    return StateSample(batch=name, api=api, db_before=lo, db_after=hi)


def item_state_sample(
    audit: ScenarioRun, client: TargetClient, name: str, batch_id: str, item_id: str
) -> StateSample:
    """The API's state of one item read between two reads of the database."""

    def db() -> str | None:
        row = audit.observe.item(item_id)
        return row.state if row else None

    lo = observed(db)
    api = next((v.state for v in client.items(batch_id) if v.id == item_id), "absent")
    hi = observed(db)
    return StateSample(batch=f"{name} (its item)", api=api, db_before=lo, db_after=hi)


def lacks_state(audit: ScenarioRun, state: str) -> None:
    """Raise the finding's cause when the target file lists ``state`` in ``observe.lacks_states``."""
    field = f"observe.states.{state}"
    if declared_absent(audit.stack.target, field):
        raise ObservationMissing(field, "the target file lists it in observe.lacks_states")


def long_calls(
    audit: ScenarioRun, client: TargetClient, batch_of: dict[str, str], seconds: float
) -> list[dict[str, Any]]:
    """Items processing for longer than ``seconds``: their provider call has been in flight that
    long (the ledger) and the API still shows them processing."""
    now = time.monotonic()
    long = {str(e["item_id"]) for e in work_calls(audit)
            if e.get("answered_at") is None and now - float(e["arrived_at"]) > seconds}  # fmt: skip
    out = []
    for item_id in sorted(long):
        batch_id = batch_of.get(item_id)
        views = {v.id: v for v in client.items(batch_id)} if batch_id else {}
        if item_id in views and views[item_id].state == "processing":
            out.append({"item_id": item_id, "batch_id": batch_id})
    return out


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
    needs=(
        "services.api",
        "services.worker*2",
        "observe.items",
        "control.cancel",
        "database.observations.workers?",
    ),
)
def test_rr_005_every_state_reachable_and_reported_identically(audit: ScenarioRun) -> None:
    # Given a short batch deadline (one batch must overrun it) and a short maximum duration (its
    # long call must be flagged), two workers, paused once registered so that batches wait queued.
    # A running stack keeps its own deadline and maximum duration when they can be waited for (every
    # batch here is small enough to finish well inside any such deadline).
    workers = audit.workers(2)
    audit.stack.start(
        services=[audit.api, *workers],
        # the call held for the cancel must outlive the wait for the retrying state
        timing={
            "batch_deadline_s": waitable(5.0),
            "max_duration_s": waitable(1.0),
            "provider_timeout_s": at_least(20.0),
        },
    )
    deadline_s = float(audit.stack.timing["batch_deadline_s"])
    client = audit.client()

    def registered() -> bool:
        return len(audit.observe.workers()) >= len(workers)

    try:  # when the store lists its workers, wait until both are up (else pause them as they are)
        registered()
    except Undecidable:
        pass
    else:
        audit.wait_for("both workers registered in the target's store", registered,
                       timeout=settle_timeout(audit, 0))  # fmt: skip
    seen: dict[str, list[StateSample]] = {s: [] for s in RR005_STATES}  # state -> reads expecting it

    def observe(state: str, name: str, batch_id: str) -> bool:
        """Read the batch's state: does the API show ``state`` (and the store agree, if it can tell)?"""
        return note(state, state_sample(audit, client, name, batch_id))

    def note(state: str, s: StateSample) -> bool:
        seen[state].append(s)
        if s.api != state:
            return False
        try:
            return s.db_agrees(state)
        except Undecidable:
            return True

    for w in workers:
        audit.faults.pause(w)
    batches = {name: client.batch_id_of(client.create_batch(n)) for name, n in RR005_BATCHES}
    for name, bid in batches.items():
        observe("queued", name, bid)
    with audit.deciding("queued_without_output"):
        queued = all(s.api == "queued" for s in seen["queued"])
        early = [
            v.id
            for bid in batches.values()
            for v in client.items(bid)
            if audit.observe.item_field(v, "output")
        ]
        calls = len(work_calls(audit))
        audit.expect("queued_without_output", queued and not early and not calls,
                     detail={"outputs": len(early), "provider_calls": calls})  # fmt: skip
    items = {name: items_by_seq(client, bid) for name, bid in batches.items()}
    batch_of = {v.id: batches[name] for name, views in items.items() for v in views.values()}

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

        with audit.deciding("retrying_records_previous_attempt"):
            lacks_state(audit, "retrying")  # a state the target declares it lacks is not waited for
            r_batch, r_id = batches["retrying"], items["retrying"][1].id

            def retrying_or_over() -> bool:
                """Retrying seen (the batch's state, or its item's: a state of the retry between two
                attempts), or the batch already finished (too late to see it)."""
                batch = state_sample(audit, client, "retrying", r_batch)
                return (
                    note("retrying", batch)
                    or note("retrying", item_state_sample(audit, client, "retrying", r_batch, r_id))
                    or batch.api in TERMINAL
                )

            poll_until(retrying_or_over, timeout=deadline_s)
            retrying = any(s.api == "retrying" for s in seen["retrying"])
            r_item = items_by_seq(client, batches["retrying"])[1]
            r_error = item_error(audit, r_item)
            attempts = audit.observe.item_field(r_item, "attempts", optional=True)
            audit.evidence("retrying_item", {"attempts": attempts, "error": r_error})
            audit.expect("retrying_records_previous_attempt", bool(retrying and r_error),
                         detail={"item": dict(r_item.raw)})  # fmt: skip
        held.wait(timeout=settle_timeout(audit, 13))  # a worker is inside the cancelled batch's item 2
        observe("processing", "cancelled", batches["cancelled"])
        done_at_cancel = [
            s for s, v in items_by_seq(client, batches["cancelled"]).items() if v.state == "completed"
        ]
        cancel = client.control("cancel", {"batch_id": batches["cancelled"]})
        cancelled_at = time.monotonic()
        observe("cancelled", "cancelled", batches["cancelled"])
        held.release()
        audit.expect("cancel_accepted", cancel.ok, detail={"status": cancel.status})

        # Then the call that overran the maximum duration is flagged while still processing.
        with audit.deciding("long_processing_flagged"):
            if audit.stack.target.control.attention is None:
                raise CapabilityMissing("control.attention")
            max_s = float(audit.stack.timing["max_duration_s"])
            if max_s >= deadline_s - 1.0:  # the deadline ends the long call before it could be flagged
                raise Undecidable(
                    f"timing.max_duration_s: {max_s} s is not shorter than the {deadline_s} s batch "
                    "deadline, which ends the long call first",
                    field="timing.max_duration_s",
                )
            stuck = poll_until(lambda: long_calls(audit, client, batch_of, max_s), timeout=deadline_s) or []
            if not stuck:
                raise Undecidable(f"no item stayed processing past the maximum duration ({max_s} s) to flag")
            flagged = json.dumps(client.control("attention", {}).body)
            unflagged = [r for r in stuck if r["batch_id"] not in flagged]
            audit.evidence("processing_past_max_duration",
                           f"{len(stuck)} item(s), {len(unflagged)} unflagged",
                           expected="flagged (admin attention list)")  # fmt: skip
            audit.expect("long_processing_flagged", not unflagged, detail={"unflagged": unflagged})

        # And every batch settles in the state its scenario implies, identically in API and DB.
        for name, bid in batches.items():
            wait_terminal(audit, client, bid, timeout=settle_timeout(audit, 13, extra=deadline_s))
            observe(name, name, bid)
    audit.evidence("states", {s: state_evidence(s, seen[s]) for s in RR005_STATES})
    for state in RR005_STATES:
        reads = seen[state]
        with audit.deciding(f"state_{state}_reachable"):
            lacks_state(audit, state)
            reached = [s for s in reads if s.api == state]
            audit.expect(f"state_{state}_reachable", bool(reached),
                         detail={"state": state, "api": [f"{s.batch}: {s.api}" for s in reads]})  # fmt: skip
        with audit.deciding(f"state_{state}_identical_in_db"):
            lacks_state(audit, state)
            if not reached:
                raise Undecidable(f"the API never reported {state!r}: nothing to compare with the store")
            agreed = [s for s in reached if s.db_agrees(state)]
            audit.expect(f"state_{state}_identical_in_db", bool(agreed),
                         detail={"state": state, "db": [s.db_text() for s in reached]})  # fmt: skip

    # The cancelled batch stopped calling at once and kept what it had done.
    x = items_by_seq(client, batches["cancelled"])
    x_calls = [e for e in ledger(audit) if str(e.get("batch_id")) == batches["cancelled"]]
    audit.check(calls_only_for(x_calls, [], since=cancelled_at))
    with audit.deciding("cancelled_keeps_completed_output"):
        if not done_at_cancel:
            raise Undecidable("no item of the cancelled batch had completed when the cancel landed")
        kept = [
            s
            for s in done_at_cancel
            if x[s].state == "completed" and audit.observe.item_field(x[s], "output")
        ]
        audit.expect("cancelled_keeps_completed_output", kept == done_at_cancel,
                     detail={"completed_at_cancel": done_at_cancel, "kept": kept})  # fmt: skip
    with audit.deciding("failed_items_record_error"):
        f = items_by_seq(client, batches["failed"])
        f_errors = [item_error(audit, v) for v in f.values()]
        audit.expect("failed_items_record_error", all(f_errors), detail={"errors": f_errors})
    inv = audit.invariants()
    for name in ("illegal_transitions", "batch_rollup_mismatch", "completed_batch_with_failed_items"):
        audit.check(inv.check(name))
    audit.check(inv.check("stuck_processing"))
    audit.conclude()


def state_evidence(state: str, reads: list[StateSample]) -> Any:
    """Where ``state`` was seen: the first read where API and store agree, else where the API showed it."""
    if not reads:
        return "never observed"

    def agrees(s: StateSample) -> bool:
        try:
            return s.db_agrees(state)
        except Undecidable:
            return False

    best = next((s for s in reads if agrees(s)), None) or next((s for s in reads if s.api == state), reads[0])
    return {"batch": best.batch, "api": best.api, "db": best.db_text()}


#: RR-006: the answer the partitioned worker's late call gets, told apart from the new owner's
LATE_OUTPUT = "late-answer-to-the-partitioned-worker"


def late_answer(item_id: str, key: str | None) -> dict[str, Any]:
    """A provider answer shaped like the default one, whose output marks it as the late one."""
    return {
        "id": "call-late",
        "item_id": item_id,
        "output": f"{LATE_OUTPUT}:{item_id}",
        "idempotency_key": key,
    }


def item_view(client: TargetClient, batch_id: str, item_id: str) -> Any:
    return next((v for v in client.items(batch_id) if v.id == item_id), None)


@pytest.mark.audit(
    id="TEST-RR-006",
    needs=("services.api", "services.worker*2", "links.db", "observe.items", "database.observations.items?"),
)
def test_rr_006_partitioned_worker_cannot_commit(audit: ScenarioRun) -> None:
    # Given worker-1 alone, inside its first provider call (held only while its link is cut and the
    # call is answered: well inside any provider timeout, which a running stack keeps as it is).
    w1, w2 = audit.workers(2)
    w1_db = audit.link(w1, "db")
    audit.stack.start(services=[audit.api, w1])
    client = audit.client()
    bound = 10.0 + 3 * audit.stack.timing["lease_s"]  # a worker start, a lease expiry, a few calls
    since = log_offset(audit, w1)
    with audit.provider.barrier(nth=1) as held:
        batch_id = client.batch_id_of(client.create_batch(3))
        held.wait(timeout=bound)

        # When worker-1 loses its database link, then gets its (successful, marked) answer: it
        # holds a result it cannot commit, whatever its provider timeout.
        audit.faults.partition(w1_db)
        first = held_call(audit, held.id)  # the item worker-1 is inside, whatever its position
        item_id = str(first["item_id"])
        with audit.provider.rule(item_id, times=1, body=late_answer(item_id, first.get("idempotency_key"))):
            held.release()
            ended = audit.wait_for("worker-1's call to end", lambda: answered(audit, held.id), timeout=bound)
    if not successful(ended):  # it gave up before the answer came: there is no late answer
        cut_short(audit, f"worker-1 got its answer (the call ended {ended.get('outcome')})")
    # (no other worker runs: the item stays worker-1's until one takes it over)
    token_a = observed(lambda: db_item(audit, item_id).get("lease_token"))
    with audit.deciding("worker_1_holds_item"):
        view = item_view(client, batch_id, item_id)
        holder = audit.observe.item_field(view, "holder") if view is not None else None
        audit.expect("worker_1_holds_item", holder == w1, detail={"holder": holder, "item": item_id})

    # And its lease expires, and worker-2 takes the item over and completes it.
    audit.stack.start_service(w2)
    audit.wait_for(
        "worker-2 to call the provider for the item (its lease on worker-1 expired)",
        lambda: len([e for e in work_calls(audit) if str(e["item_id"]) == item_id]) >= 2,
        timeout=bound,
    )
    audit.wait_for(
        "worker-2 to complete the item",
        lambda: (v := item_view(client, batch_id, item_id)) is not None and v.state == "completed",
        timeout=bound,
    )
    token_b = observed(lambda: db_item(audit, item_id).get("lease_token"))
    # And the partition heals: worker-1's write of the answer it holds reaches the store.
    audit.faults.heal_partition(w1_db)
    with contextlib.suppress(Undecidable):
        audit.evidence("lease_tokens", {w1: token_a(), w2: token_b()})

    # Then worker-1 notices it lost the item and backs off (its log says so, where it logs that).
    outcomes = ("ownership_lost", "completed", "stored", "failed", "retrying")
    logs = audit.stack.target.logs
    logged: list[dict[str, Any]] | None = None
    with audit.deciding("ownership_lost_logged"):
        lost = audit.observe.events("ownership_lost")
        declared = [o for o in outcomes if logs.events.get(o)]

        def outcome_logged() -> list[dict[str, Any]]:
            return [e for o in declared for e in log_events(audit, w1, since=since, item=item_id, event=o)]

        logged = outcome_logged() or poll_until(outcome_logged, timeout=bound) or []
        events = [str(e.get(logs.event_field)) for e in logged]
        audit.evidence("worker_1_after_heal", events or "no outcome logged", expected=" or ".join(lost))
        audit.expect("ownership_lost_logged", any(e in lost for e in events), detail={"events": events})

    # And its late answer is never committed: the item keeps the new owner's result.
    with audit.deciding("worker_1_detects_lost_ownership"):

        def late_committed() -> bool:
            view = item_view(client, batch_id, item_id)
            return LATE_OUTPUT in json.dumps(audit.observe.item_field(view, "output"), default=str)

        # after worker-1's logged outcome at once; without one, for as long as a write may take
        late = late_committed() or bool(not logged and poll_until(late_committed, timeout=stall_bound(audit)))
        view = item_view(client, batch_id, item_id)
        output = audit.observe.item_field(view, "output")
        audit.evidence("committed_output", "worker-1's late answer" if late else "the new owner's",
                       expected="the new owner's")  # fmt: skip
        kept = not late and view.state == "completed" and bool(output)
        audit.expect("worker_1_detects_lost_ownership", kept,
                     detail={"late_answer_committed": late, "state": view.state})  # fmt: skip
    with audit.deciding("one_result_from_owner"):
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


#: RR-008's window of failing items (the seed's items 6-8), where the stack's breaker allows it
RR008_WINDOW = (6, 7, 8)


def rr008_window(timing: Mapping[str, Any]) -> tuple[int, ...]:
    """The failing items: the seed's window, shrunk so that its consecutive failures (each item's
    ``max_attempts`` calls, back to back in the worst case) stay under the stack's breaker threshold;
    at least one item (its attempts are spaced by retry backoff, and the items after it succeed in
    between; ``breaker_tripped`` reads the ledger for the case they did not). ``timing``: the stack's
    (a target without a breaker has its generous threshold there)."""
    fits = (int(timing["breaker_threshold"]) - 1) // int(timing["max_attempts"])
    return RR008_WINDOW[: max(1, min(len(RR008_WINDOW), fits))]


def breaker_tripped(audit: ScenarioRun, since: float) -> int | None:
    """The longest run of consecutive failed provider calls since ``since`` (the ledger), when it
    reached the stack's breaker threshold (it may have opened the breaker: a target then holds the
    window's items back instead of failing them); else None."""
    longest = longest_failure_run(work_calls(audit), since=since)
    return longest if longest >= int(audit.stack.timing["breaker_threshold"]) else None


def stall_bound(audit: ScenarioRun) -> float:
    """How long a healthy target may take to finish what it is doing with one item."""
    return 2.0 + 3 * float(audit.stack.timing["lease_s"])


def summary_text(audit: ScenarioRun, body: Any) -> str:
    """What the target tells a user about the batch outcome (its summary, then its state's reason)."""
    summary = audit.observe.batch_field(body, "summary")
    reason = audit.observe.batch_field(body, "reason", optional=True)
    return " ".join(str(x) for x in (summary, reason) if x)


@pytest.mark.audit(
    id="TEST-RR-008", needs=("services.api", "services.worker", "observe.items", "control.retry_failed")
)
def test_rr_008_provider_errors_are_specific_and_retry_is_selective(audit: ScenarioRun) -> None:
    # Given a 20-item batch queued before the worker starts, and a provider that answers 500 to
    # every call for items 6-8 (a window in the middle of the batch). This scenario is about items
    # failing, TEST-RR-P02 about the breaker: the breaker threshold is set above the window's
    # consecutive failures where the harness can; a running stack keeps its own, and the window
    # shrinks to fit under it (``rr008_window``), which the ledger then confirms.
    max_attempts = int(audit.stack.timing["max_attempts"])
    (worker,) = audit.workers(1)
    audit.stack.start(
        services=[audit.api],
        timing={"breaker_threshold": prefer(len(RR008_WINDOW) * max_attempts + 1, at_least=max_attempts)},
    )
    window = rr008_window(audit.stack.timing)
    client = audit.client()
    batch_id = client.batch_id_of(client.create_batch(N))
    queued = items_by_seq(client, batch_id)
    since = log_offsets(audit)
    started_at = time.monotonic()
    with contextlib.ExitStack() as outage:
        for seq in window:
            outage.enter_context(audit.provider.rule(queued[seq].id, status=500))
        audit.history.fault("provider_500", "provider", "start", items=list(window))
        audit.stack.start_service(worker)
        settled = poll_until(
            lambda: client.batch_state(batch_id) in TERMINAL or breaker_tripped(audit, started_at),
            timeout=settle_timeout(audit, N),
        )
    audit.history.fault("provider_500", "provider", "heal")  # the provider has recovered
    tripped = breaker_tripped(audit, started_at)
    if tripped:  # the breaker paused the window's items instead of letting them fail: not this question
        wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, N))
        raise Undecidable(
            f"timing.breaker_threshold: {tripped} consecutive provider failures reached this stack's "
            f"breaker threshold ({audit.stack.timing['breaker_threshold']}): its breaker may have paused "
            f"the window's items (items {list(window)}) instead of letting them fail",
            field="timing.breaker_threshold",
        )
    first = settled if settled in TERMINAL else wait_terminal(audit, client, batch_id, timeout=1.0)

    # Then the failed items carry a specific error and the successes are kept.
    before = items_by_seq(client, batch_id)
    failed = {s: v for s, v in before.items() if v.state == "failed"}
    done = {s: v for s, v in before.items() if v.state == "completed"}
    audit.evidence("after_outage", f"{first}: {len(done)} completed, failed items {sorted(failed)}",
                   expected=f"partial: {N - len(window)} completed, failed items {list(window)}")  # fmt: skip
    audit.expect("window_items_failed", sorted(failed) == list(window), detail={"failed": sorted(failed)})
    with audit.deciding("errors_specific"):
        errors = {
            s: tuple(audit.observe.item_field(v, f) for f in ("error_kind", "error_status", "error_message"))
            for s, v in failed.items()
        }
        generic = {None, "", "error", "unknown", "Unknown error"}
        specific = {s: e for s, e in errors.items() if e[0] not in generic and str(e[1]) == "500"}
        audit.evidence("failed_item_errors", sorted({f"{k}/{st}" for k, st, _ in errors.values()}),
                       expected="a kind and the provider status 500")  # fmt: skip
        audit.expect(
            "errors_specific", bool(failed) and len(specific) == len(failed), detail={"errors": errors}
        )
    with audit.deciding("summary_actionable"):
        summary = summary_text(audit, client.progress(batch_id).body)
        # "<n> <items, tasks, jobs...> failed ... 500": how many, and why, in the target's own words
        actionable = bool(re.search(rf"\b{len(window)} \w+ failed\b", summary)) and "500" in summary
        audit.evidence("summary", summary, expected=f"'{len(window)} items failed due to provider 500'")
        audit.expect("summary_actionable", actionable, detail={"summary": summary})
    with audit.deciding("errors_logged_with_response"):
        logged = {
            seq: logged_errors(audit, v.id, ("500", "server_error"), since=since) for seq, v in failed.items()
        }
        audit.evidence(
            "errors_logged_with_response", sum(1 for x in logged.values() if x), expected=len(window)
        )
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
    with audit.deciding("successes_preserved"):
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
