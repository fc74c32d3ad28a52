"""A provider call held at a barrier lasts only as long as the target lets it: its provider timeout.

A stack the harness does not own keeps its own ``timing.provider_timeout_s`` (1 s on the compose
stack): a scenario cannot stretch it, so it acts inside it. It holds a call only for what takes
milliseconds (a drop, a partition, a pause), or hands the held worker its answer before the timeout,
and then checks on an observed point that the call (or what it stood for) really was still held
when it mattered. When the target's own timeout ended the call first, the scenario is ``unknown``
naming that timing: it never decides on a moment it did not observe.
"""

from __future__ import annotations

from typing import Any, NoReturn

from harness.errors import Undecidable
from harness.faults.provider.client import Barrier
from harness.scenario import ScenarioRun
from harness.workload import poll_until, work_calls

#: how long the provider may take to see a killed worker's connection close (a busy machine's room)
CLIENT_GONE_BOUND_S = 10.0


def still_held(barrier: Barrier) -> bool:
    """Whether the barrier holds a call right now (the caller's own timeout has not ended it)."""
    return barrier.state().waiting > 0


def held_entry(audit: ScenarioRun, barrier_id: str) -> dict[str, Any] | None:
    """The ledger entry of the call held at ``barrier_id`` (None before one arrived)."""
    return next((e for e in work_calls(audit) if e.get("barrier_id") == barrier_id), None)


def answered(audit: ScenarioRun, barrier_id: str) -> dict[str, Any] | None:
    """The held call's ledger entry once it has ended (answered, or given up by its caller)."""
    entry = held_entry(audit, barrier_id)
    return entry if entry is not None and entry.get("answered_at") is not None else None


def cut_short(audit: ScenarioRun, before: str) -> NoReturn:
    """End the scenario as unknown: the target's provider timeout ended the held call ``before``."""
    timeout = audit.stack.timing.get("provider_timeout_s")
    audit.unknown(
        f"timing.provider_timeout_s: the target's provider timeout ({timeout} s) ended the held provider "
        f"call before {before}, so the scenario could not act at the moment it needs; a stack with a "
        "longer provider timeout (or a less loaded runner) decides it"
    )


def ended_with_its_worker(audit: ScenarioRun, barrier_id: str) -> dict[str, Any]:
    """After the worker holding a call at ``barrier_id`` was killed: the call's ledger entry once the
    provider has seen its client go (it ends ``aborted``).

    Releasing the barrier before that races the kill: the provider may write its answer into the
    dead process's closed socket and record a success nobody received, which reads as a duplicate
    billed call once another worker takes the item over. ``Undecidable`` if the provider never sees
    the connection close (inside ``audit.deciding`` only those checks are unknown).
    """
    entry = poll_until(lambda: answered(audit, barrier_id), timeout=CLIENT_GONE_BOUND_S)
    if entry is None:
        raise Undecidable(
            f"the provider did not see the killed worker's connection close within "
            f"{CLIENT_GONE_BOUND_S:g} s, so releasing its held call could have answered a dead process"
        )
    return entry
