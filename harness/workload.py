"""Workload building blocks shared by scenarios: start a batch, observe it, read the ledger.

Scenarios wait on *observed states* (a barrier reached, a batch terminal, a count reached), with
bounds derived from the target's own timing, never on bare sleeps.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from harness.scenario import ScenarioRun
from harness.target.client import ItemView, TargetClient

T = TypeVar("T")

#: batch states after which nothing more happens without a user action
TERMINAL = frozenset({"completed", "failed", "partial", "cancelled", "timeout"})


def ledger(audit: ScenarioRun) -> list[dict[str, Any]]:
    """The provider's ledger as JSON dicts (the form the ledger checkers take)."""
    return [e.to_json() for e in audit.provider.ledger()]


def work_calls(audit: ScenarioRun) -> list[dict[str, Any]]:
    return [e for e in ledger(audit) if e.get("kind") == "generate"]


def longest_failure_run(calls: Iterable[Mapping[str, Any]], *, since: float = 0.0) -> int:
    """The longest run of consecutive failed provider calls (in arrival order, arrived at ``since`` or
    later): what a circuit breaker compares with its threshold. A failure is the provider's (a 5xx,
    a malformed or broken answer); a rejected input (4xx) is the item's, and no call of it ends a run.
    """
    run = longest = 0
    for e in sorted(calls, key=lambda e: float(e["arrived_at"])):
        if float(e["arrived_at"]) < since or e.get("answered_at") is None:
            continue
        failed = int(e.get("status") or 0) >= 500 or e.get("outcome") in ("malformed", "aborted", "reset")
        run = run + 1 if failed else 0
        longest = max(longest, run)
    return longest


def settle_timeout(audit: ScenarioRun, n_items: int, *, extra: float = 0.0) -> float:
    """A generous bound for a batch to settle: leases, retries and backoff of the target's timing."""
    t = audit.stack.timing
    retries = t["max_attempts"] * t["provider_timeout_s"]
    return float(10.0 + 0.1 * n_items + 3 * t["lease_s"] + retries + extra)


def wait_terminal(audit: ScenarioRun, client: TargetClient, batch_id: str, *, timeout: float) -> str:
    """Wait until the batch reaches a terminal state; returns it."""
    state: str = audit.wait_for(
        f"batch {batch_id} to reach a terminal state {sorted(TERMINAL)}",
        lambda: (s := client.batch_state(batch_id)) in TERMINAL and s,
        timeout=timeout,
        interval=0.05,
    )
    return state


def items_by_seq(client: TargetClient, batch_id: str) -> dict[int, ItemView]:
    """The batch's items keyed by their 1-based position."""
    return {v.seq: v for v in client.items(batch_id) if v.seq is not None}


def ids_in_state(items: Iterable[ItemView], *states: str) -> list[str]:
    return [v.id for v in items if v.state in states]


def count_in_state(client: TargetClient, batch_id: str, *states: str) -> int:
    return len(ids_in_state(client.items(batch_id), *states))


def seq_of_item(items: Iterable[ItemView]) -> dict[str, int]:
    return {v.id: v.seq for v in items if v.seq is not None}


def poll_until(predicate: Callable[[], T], *, timeout: float, interval: float = 0.02) -> T | None:
    """Poll ``predicate`` until it returns a truthy value; that value, or None after ``timeout``.

    A bounded observation that does not end the scenario (``ScenarioRun.wait_for`` does): the
    caller records "did not happen within the bound" as a failed check with its evidence, so a
    defect that never lets the state happen fails fast and with numbers instead of hanging.
    """
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):  # a transient error while a fault is active
            value = predicate()
            if value:
                return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def item_error(audit: ScenarioRun, item: ItemView) -> str:
    """The item's error (kind, provider status, message) as one text, ``''`` when none."""
    return audit.observe.item_error(item)


def log_offset(audit: ScenarioRun, service: str) -> int:
    """The end of a service's log now: pass it to ``log_events(since=...)`` to read what follows."""
    from harness.process.logs import log_size

    path = audit.stack.log_path(service)
    return log_size(path) if path else 0


def log_events(
    audit: ScenarioRun,
    service: str,
    *,
    since: int = 0,
    event: str | None = None,
    item: str | None = None,
    batch: str | None = None,
    correlation: str | None = None,
) -> list[dict[str, Any]]:
    """A service's log records (after byte ``since``) matching every filter given.

    Lines are parsed per ``logs.format`` by harness.logparse (the reader ``target check`` and
    harness.logs use too), each record a dict of its fields. ``event`` is a moment's canonical
    name (``logs.events``: e.g. ``ownership_lost``), matched against the target's own event names;
    ``item``, ``batch`` and ``correlation`` match the log fields the target file names
    (``logs.item_field`` ...). Values compare as strings, so ids match whether the service logged
    a UUID, a number or its text.
    """
    from harness.logparse import records
    from harness.process.logs import read_log

    spec = audit.stack.target.logs
    names = audit.observe.events(event) if event is not None else None
    fields: dict[str, str] = {}
    for value, field, name in ((item, spec.item_field, "logs.item_field"),
                               (batch, spec.batch_field, "logs.batch_field"),
                               (correlation, spec.correlation_field, "logs.correlation_field")):  # fmt: skip
        if value is not None:
            audit.used.add(name)
            if field is None:
                from harness.errors import ObservationMissing

                raise ObservationMissing(name)
            fields[field] = str(value)
    path = audit.stack.log_path(service)
    if path is None:
        return []
    out = []
    for rec in records(read_log(path, since), spec):
        if not all(str(rec.get(k)) == v for k, v in fields.items()):
            continue
        if names is None or str(rec.get(spec.event_field)) in names:
            out.append(rec)
    return out


def worker_holding(audit: ScenarioRun, client: TargetClient, batch_id: str, seq: int) -> str:
    """The worker service holding item ``seq`` now (``observe.item_fields.holder``).

    A target whose items name no started service as their holder makes the scenario unknown.
    """
    worker = audit.observe.item_field(items_by_seq(client, batch_id)[seq], "holder")
    if worker not in audit.stack.started:
        from harness.errors import ObservationMissing

        raise ObservationMissing(
            "observe.item_fields.holder", f"it names {worker!r}, not a started service of the target file"
        )
    return str(worker)


@contextlib.contextmanager
def workers_frozen(audit: ScenarioRun, workers: Iterable[str]) -> Iterator[None]:
    """SIGSTOP idle ``workers`` for the block (e.g. to create a batch and script the provider for its
    item ids before any worker can claim one); they are resumed on exit, also on errors."""
    names = list(workers)
    for name in names:
        audit.faults.pause(name)
    try:
        yield
    finally:
        for name in names:
            audit.faults.resume(name)


def observed(read: Callable[[], T]) -> Callable[[], T]:
    """Make an observation now; the returned callable gives its value, or raises why it could not.

    For a reading that must happen at an exact moment (a store read beside an API read while a
    barrier holds) but that only some checks depend on: call the result inside those checks'
    ``audit.deciding(...)`` block, so a target that cannot answer leaves exactly them undecided
    while the scenario goes on.
    """
    from harness.errors import Undecidable

    try:
        value = read()
    except Undecidable as exc:
        missing = exc

        def undecided() -> T:
            raise missing

        return undecided
    return lambda: value


def held_call(audit: ScenarioRun, barrier_id: str) -> dict[str, Any]:
    """The ledger's entry of the work call a barrier holds (its ``item_id`` is the item held).

    A barrier on the n-th call catches whichever item that call was for: with parallel workers or
    prefetch it need not be the item at position n, so scenarios act on this entry's item.
    """
    for entry in work_calls(audit):
        if entry.get("barrier_id") == barrier_id:
            return entry
    raise AssertionError(f"no call held at barrier {barrier_id} in the provider's ledger")


def items_by_id(client: TargetClient, batch_id: str) -> dict[str, ItemView]:
    """The batch's items keyed by their id (in position order)."""
    return {v.id: v for v in client.items(batch_id)}


def items_answered_by(audit: ScenarioRun, rule_ids: Iterable[str]) -> list[str]:
    """The items of the work calls the provider answered with the rules ``rule_ids``, in call order.

    A rule aimed at the n-th call (``nth=n``) hits whichever item that call was for: with parallel
    workers or prefetch that is not the item at position n, so a scenario acts on the ledger's
    ``item_id`` of the call, never on a position.
    """
    wanted = set(rule_ids)
    found: list[str] = []
    for e in work_calls(audit):
        item = e.get("item_id")
        if e.get("rule_id") in wanted and item is not None and str(item) not in found:
            found.append(str(item))
    return found


def positions(items: dict[str, ItemView], ids: Iterable[str]) -> list[int | str]:
    """The positions of ``ids`` among ``items`` (an id without a position stays an id), for evidence."""
    out: list[int | str] = []
    for i in ids:
        seq = items[i].seq if i in items else None
        out.append(seq if seq is not None else i)
    return sorted(out, key=lambda p: (isinstance(p, str), p if isinstance(p, int) else 0, str(p)))


def log_field(audit: ScenarioRun, name: str) -> str:
    """The target's log field ``logs.<name>`` (``correlation_field``, ``item_field``...), recorded as used.

    ``ObservationMissing`` when the file gives none: inside ``audit.deciding`` a check whose spec
    ``requires`` it fails with that finding when the file says ``null``, and is unknown when the file
    merely omits it.
    """
    from harness.errors import ObservationMissing
    from harness.target.absence import declared_absent

    field = f"logs.{name}"
    audit.used.add(field)
    value = getattr(audit.stack.target.logs, name)
    if value is None:
        absent = declared_absent(audit.stack.target, field)
        raise ObservationMissing(
            field, "null in its target file" if absent else "not given in its target file"
        )
    return str(value)


def require_state(audit: ScenarioRun, state: str) -> None:
    """``ObservationMissing("observe.states.<state>")`` when the target file lists ``state`` in
    ``observe.lacks_states``: call it inside ``audit.deciding`` *before* waiting for the state, so a
    check that ``requires`` it fails with that finding at once instead of timing out."""
    from harness.errors import ObservationMissing
    from harness.target.absence import declared_absent

    field = f"observe.states.{state}"
    audit.used.add(field)
    if declared_absent(audit.stack.target, field):
        raise ObservationMissing(field, "listed in observe.lacks_states: the system has no such state")
