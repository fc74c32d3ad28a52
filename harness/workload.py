"""Workload building blocks shared by scenarios: start a batch, observe it, read the ledger.

Scenarios wait on *observed states* (a barrier reached, a batch terminal, a count reached), with
bounds derived from the target's own timing, never on bare sleeps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.scenario import ScenarioRun
from harness.target.client import ItemView, TargetClient

#: batch states after which nothing more happens without a user action
TERMINAL = frozenset({"completed", "failed", "partial", "cancelled", "timeout"})


def ledger(audit: ScenarioRun) -> list[dict[str, Any]]:
    """The provider's ledger as JSON dicts (the form the ledger checkers take)."""
    return [e.to_json() for e in audit.provider.ledger()]


def work_calls(audit: ScenarioRun) -> list[dict[str, Any]]:
    return [e for e in ledger(audit) if e.get("kind") == "generate"]


def settle_timeout(audit: ScenarioRun, n_items: int, *, extra: float = 0.0) -> float:
    """A generous bound for a batch to settle: leases, retries and backoff of the target's timing."""
    t = audit.stack.timing
    return 10.0 + 0.1 * n_items + 3 * t["lease_s"] + t["max_attempts"] * t["provider_timeout_s"] + extra


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
