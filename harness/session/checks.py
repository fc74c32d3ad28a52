"""The session's ``check``: the scenarios' checkers, run on demand against the live stack.

The SQL invariants are the impossible states of TEST-RR-S02 (parameterised by the target's timing,
as a scenario's ``audit.invariants()`` is), and the ledger checkers compare the provider's calls
with the items seen completed. Nothing raises: an unreachable database or provider
makes its checkers ``unknown`` with the reason, never a pass.
"""

from __future__ import annotations

from harness.checkers.ledger import exactly_once, same_idempotency_key
from harness.checkers.result import CheckResult
from harness.checkers.sql import SqlInvariants
from harness.session import view
from harness.stack.base import Stack


def run_checks(stack: Stack, snap: view.Snapshot, *, db_down: str | None = None) -> list[CheckResult]:
    """Every checker's result; ``db_down`` (the open database fault) skips the SQL with the reason."""
    if db_down:  # each query would wait for its connect timeout: say why instead
        return [CheckResult.unknown("sql_invariants", f"the database is down ({db_down}): heal db")]
    t = stack.timing
    params = {
        "max_duration_s": t["max_duration_s"],
        "heartbeat_grace_s": max(3 * t["lease_s"], 1.0),
        "max_attempts": t["max_attempts"],
        "max_deliveries": t["max_deliveries"],
    }
    invariants = SqlInvariants(stack.db_dsn, overrides=stack.target.database.invariants, params=params)
    results = invariants.check_all()
    try:
        ledger = [e.to_json() for e in stack.provider.ledger()]
    except Exception as exc:  # the ledger is unreachable: say so, do not pretend it passed
        return [*results, CheckResult.unknown("ledger", f"{type(exc).__name__}: {exc}")]
    completed = snap.ids_in("completed")
    return [*results, exactly_once(ledger, completed), same_idempotency_key(ledger)]
