"""Reliability & Resilience Audit (seed 001), task 10: observability (TEST-RR-O01, TEST-RR-O02).

The harness reads the target's logs the way an engineer with a log search would: it is given a
correlation id and nothing else (``harness.logs``), and must find the root cause of a failure
(O01) or rebuild a whole workflow step by step with per-step durations (O02).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from harness.errors import ObservationMissing
from harness.held import ended_with_its_worker
from harness.logs import LogEntry, Matcher, TargetLogs, rebuild_flow
from harness.scenario import ScenarioRun
from harness.stack.timing import waitable
from harness.workload import (
    TERMINAL,
    items_by_seq,
    log_field,
    poll_until,
    settle_timeout,
    wait_terminal,
    work_calls,
    worker_holding,
)

#: a short provider timeout where the harness sets it (the hang mode waits for it); a running
#: stack's own if it can be waited for and leaves room to act while a call is held (the crash)
TIMING = {"provider_timeout_s": waitable(2.0, at_least=2.0)}
PROBLEM_LEVELS = {"warning", "warn", "error", "critical", "fatal"}


@dataclass(kw_only=True)
class FailureMode:
    """A failure injected on item 2 of its own batch, and what a root-cause log entry must name."""

    name: str
    names: tuple[str | int, ...]  #: terms the entry must mention besides the item id
    #: provider script for the item's first call (None: a worker crash). Only the first call fails:
    #: one failure is what the logs must explain, and its retry succeeding keeps any breaker of the
    #: stack from pausing the other modes' batches (a probe finds the provider answering again).
    rule: dict[str, Any] | None = None
    correlation_id: str = ""
    batch_id: str = ""
    item_id: str = ""


def modes() -> list[FailureMode]:
    return [
        FailureMode(name="provider 5xx", names=("5xx", 500), rule={"status": 500}),
        FailureMode(name="provider rejects input (4xx)", names=("4xx", 422), rule={"status": 422}),
        FailureMode(name="API call timeout", names=("timeout",), rule={"hang": True}),
        FailureMode(name="malformed response", names=("malformed",), rule={"malformed": True}),
        FailureMode(name="worker crash", names=("lease",)),
    ]


def first_calls_ended(audit: ScenarioRun, scripted: list[FailureMode], *, timeout: float) -> None:
    """Until each scripted item's first provider call has ended (answered, or dropped by the target),
    bounded: a call that never ends leaves its mode's entry unwritten, and the check says so."""

    def ended() -> bool:
        done = {e["item_id"] for e in work_calls(audit) if e.get("answered_at") is not None}
        return all(m.item_id in done for m in scripted)

    poll_until(ended, timeout=timeout, interval=0.1)


def names_item_by_field(audit: ScenarioRun) -> bool:
    """True when the logs carry the item id in ``logs.item_field``; else an entry names the item
    when any of its fields mentions the id (a message such as ``item 3f2a... failed``)."""
    try:
        log_field(audit, "item_field")
    except ObservationMissing:
        return False
    return True


def diagnose(logs: TargetLogs, mode: FailureMode, by_field: bool) -> tuple[LogEntry | None, int, float]:
    """Search by correlation id alone; the first warning/error naming the item and the root cause."""
    started = time.monotonic()
    trail = logs.by_correlation(mode.correlation_id)

    def names_item(e: LogEntry) -> bool:
        return e.item_id == mode.item_id if by_field else e.mentions(mode.item_id)

    found = next((e for e in trail if (e.level or "").lower() in PROBLEM_LEVELS and names_item(e)
                  and all(e.mentions(term) for term in mode.names)), None)  # fmt: skip
    return found, len(trail), round((time.monotonic() - started) * 1000, 1)


@pytest.mark.audit(
    id="TEST-RR-O01",
    needs=(
        "observe.item_fields.holder",
        "observe.items",
        "services.api",
        "services.worker*2",
    ),
)
def test_rr_o01_failure_diagnosis(audit: ScenarioRun) -> None:
    # Given one batch per failure mode, each with its own correlation id, scripted on item 2.
    workers = audit.workers(2)
    audit.stack.start(services=[audit.api], timing=TIMING)
    client = audit.client()
    failures = modes()
    for m in failures:
        m.correlation_id = f"audit-o01-{uuid.uuid4().hex[:12]}"
        m.batch_id = client.batch_id_of(client.create_batch(3, correlation_id=m.correlation_id))
        m.item_id = items_by_seq(client, m.batch_id)[2].id
    crash = next(m for m in failures if m.rule is None)

    # When the workers run them all (the crash: SIGKILL inside item 2's call, then restart).
    # The hung call ends when the target's own provider timeout fires (or never, without one): the
    # logs can only explain it after that, so the harness waits for it, up to twice that timeout.
    timeout_s = float(audit.stack.timing["provider_timeout_s"])
    scripted = [m for m in failures if m.rule is not None]
    with contextlib.ExitStack() as faults:
        for m in scripted:
            faults.enter_context(audit.provider.rule(m.item_id, times=1, **(m.rule or {})))
        with audit.provider.barrier(crash.item_id) as held:
            for worker in workers:
                audit.stack.start_service(worker)
            held.wait(timeout=settle_timeout(audit, 3))
            victim = worker_holding(audit, client, crash.batch_id, 2)
            crash.names = (*crash.names, victim)
            audit.faults.kill(victim)
            ended_with_its_worker(audit, held.id)  # never answered to the dead process
        audit.faults.restart(victim)
        first_calls_ended(audit, scripted, timeout=2 * timeout_s + settle_timeout(audit, 3))
        for m in failures:
            wait_terminal(audit, client, m.batch_id, timeout=settle_timeout(audit, 3 * len(failures)))

    # Then, from each correlation id alone, the logs name the failing item and the root cause (a
    # target whose logs carry no correlation id fails every mode with that finding).
    with audit.deciding(*(f"root cause found: {m.name}" for m in failures)):
        log_field(audit, "correlation_field")
        logs = TargetLogs.of(audit.stack)
        names_item = names_item_by_field(audit)
        table = []
        for m in failures:
            entry, trail, search_ms = diagnose(logs, m, names_item)
            table.append({"mode": m.name, "diagnosis": "found" if entry else "not found",
                          "entries_for_id": trail, "entry": entry.brief() if entry else None,
                          "must_name": [str(t) for t in m.names], "search_ms": search_ms})  # fmt: skip
            audit.expect(f"root cause found: {m.name}", entry is not None, detail=table[-1])
        audit.evidence("diagnosis", table, expected="found for every mode")
    audit.conclude()


#: the workflow's steps in causal order, each the canonical log event (``logs.events``) that marks it
FLOW = (
    ("received", "create_received"),
    ("enqueued", "enqueued"),
    ("claimed", "claimed"),
    ("provider call", "provider_call"),
    ("stored", "stored"),
    ("completed", "completed"),
)


def flow_steps(audit: ScenarioRun) -> list[tuple[str, Matcher]]:
    """FLOW with each step matched by the target's own event names (a missing one: unknown)."""
    return [(step, _event_in(audit.observe.events(event))) for step, event in FLOW]


def _event_in(names: tuple[str, ...]) -> Matcher:
    return lambda e: e.event in names


@pytest.mark.audit(
    id="TEST-RR-O02",
    needs=(
        "services.api",
        "services.worker",
    ),
)
def test_rr_o02_trace_from_correlation_id(audit: ScenarioRun) -> None:
    # Given the whole stack: API, queue (database), a worker, the provider. The worker starts once
    # the API has answered the create: the API logs 'enqueued' after its commit, and a worker
    # already running may log its claim first, which no trace in time order could show in order.
    (worker,) = audit.workers(1)
    audit.stack.start(services=[audit.api])
    client = audit.client()
    cid = f"audit-o02-{uuid.uuid4().hex[:12]}"

    # When one workflow runs through every component under that correlation id.
    answer = client.create_batch(1, correlation_id=cid)
    audit.stack.start_service(worker)
    final = wait_terminal(audit, client, client.batch_id_of(answer), timeout=settle_timeout(audit, 1))
    audit.evidence("workflow", final, expected="completed")
    audit.expect("workflow_completed", final in TERMINAL and final == "completed", detail={"state": final})

    # Then the flow is rebuilt from the correlation id alone, every step with its duration (a
    # target whose logs carry no correlation id fails these with that finding).
    with audit.deciding("every_step_traced", "provider_call_has_status_and_duration"):
        log_field(audit, "correlation_field")
        flow = flow_steps(audit)
        trail = TargetLogs.of(audit.stack).by_correlation(cid)
        steps = rebuild_flow(trail, flow)
        audit.evidence("flow", [s.to_json() for s in steps], expected="received > enqueued > claimed > "
                       "provider call > stored > completed")  # fmt: skip
        audit.evidence(
            "entries_for_id", {"count": len(trail), "services": sorted({e.service for e in trail})}
        )
        missing = [s.step for s in steps if s.entry is None]
        audit.expect(
            "every_step_traced", not missing, detail={"missing": missing, "entries_for_id": len(trail)}
        )
        call = next((s.entry for s in steps if s.step == "provider call" and s.entry), None)
        details = {k: v for k, v in (call.fields.items() if call else ()) if "status" in k or "duration" in k}
        audit.evidence("provider_call_details", details, expected="status and duration")
        timed = any("status" in k and v for k, v in details.items()) and any("duration" in k for k in details)
        audit.expect(
            "provider_call_has_status_and_duration", timed, detail={"entry": call.fields if call else None}
        )

    # The provider saw the same id on its side (the id crossed the process boundary).
    carried = [e for e in work_calls(audit) if e.get("correlation_id") == cid]
    audit.evidence("provider_calls_with_id", f"{len(carried)}/{len(work_calls(audit))}", expected="all")
    audit.expect("id_sent_to_provider", bool(carried) and len(carried) == len(work_calls(audit)),
                 detail={"calls": len(work_calls(audit)), "with_id": len(carried)})  # fmt: skip
    audit.conclude()
