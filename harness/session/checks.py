"""The session's ``check``: the scenarios' checkers, run on demand against the live stack.

The SQL invariants are the impossible states of TEST-RR-S02 (parameterised by the target's timing,
as a scenario's ``audit.invariants()`` is), and the ledger checkers compare the provider's calls
with the items seen completed. Nothing raises: an unreachable database or provider
makes its checkers ``unknown`` with the reason, never a pass.

``check NAME ...`` runs only the named checks: any invariant of ``invariants.sql`` (or of the
target file), the ledger checkers, ``idempotent_create`` (every ``retrigger`` answered the batch it
repeats) and ``all_terminal`` (every item seen is in a terminal state). ``chaos-audit explore``
runs its continuous checks through here, so a reproducer it saves names the same checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.checkers.ledger import exactly_once, same_idempotency_key
from harness.checkers.result import CheckResult, ViolationGroup
from harness.checkers.sql import SqlInvariants, default_queries
from harness.session import view
from harness.stack.base import Stack

#: the checks a bare ``check`` runs (the impossible states and the ledger's exactly-once)
LEDGER_CHECKS = ("exactly_once", "same_idempotency_key")
#: checks answered from what the session itself saw (no database, no ledger)
SESSION_CHECKS = ("idempotent_create", "all_terminal")


def check_names(target_invariants: Sequence[str] = ()) -> tuple[str, ...]:
    """Every name ``check NAME`` accepts."""
    sql = dict.fromkeys([*default_queries(), *target_invariants])
    return (*sql, *LEDGER_CHECKS, *SESSION_CHECKS)


def run_checks(
    stack: Stack,
    snap: view.Snapshot,
    *,
    db_down: str | None = None,
    names: Sequence[str] | None = None,
    retriggers: Sequence[Mapping[str, Any]] = (),
) -> list[CheckResult]:
    """Every checker's result (or the named ones'); ``db_down`` (the open database fault) makes the
    SQL ones unknown with the reason. ``retriggers``: the session's repeated creates."""
    from harness.checkers.sql import IMPOSSIBLE_STATES

    wanted = list(names) if names else [*IMPOSSIBLE_STATES, *LEDGER_CHECKS]
    sql = [n for n in wanted if n not in LEDGER_CHECKS and n not in SESSION_CHECKS]
    results: list[CheckResult] = []
    if sql and db_down:  # each query would wait for its connect timeout: say why instead
        results.append(CheckResult.unknown("sql_invariants", f"the database is down ({db_down}): heal db"))
    elif sql:
        results += _sql_checks(stack, sql)
    ledger_wanted = [n for n in wanted if n in LEDGER_CHECKS]
    if ledger_wanted:
        try:
            ledger = [e.to_json() for e in stack.provider.ledger()]
        except Exception as exc:  # the ledger is unreachable: say so, do not pretend it passed
            results.append(CheckResult.unknown("ledger", f"{type(exc).__name__}: {exc}"))
        else:
            if "exactly_once" in ledger_wanted:
                results.append(exactly_once(ledger, snap.ids_in("completed")))
            if "same_idempotency_key" in ledger_wanted:
                results.append(same_idempotency_key(ledger))
    if "idempotent_create" in wanted:
        results.append(idempotent_create(retriggers))
    if "all_terminal" in wanted:
        results.append(all_terminal(snap))
    return results


def _sql_checks(stack: Stack, names: Sequence[str]) -> list[CheckResult]:
    t = stack.timing
    params = {
        "max_duration_s": t["max_duration_s"],
        "heartbeat_grace_s": max(3 * t["lease_s"], 1.0),
        "max_attempts": t["max_attempts"],
        "max_deliveries": t["max_deliveries"],
    }
    invariants = SqlInvariants(stack.db_dsn, overrides=stack.target.database.invariants, params=params)
    known = [n for n in names if n in invariants.queries]
    return invariants.check_all(tuple(known))


def idempotent_create(retriggers: Sequence[Mapping[str, Any]]) -> CheckResult:
    """Each repeated create (same idempotency key, same payload) answered the batch it repeats."""
    bad = [dict(r) for r in retriggers if r.get("answered") != r.get("original")]
    groups = [ViolationGroup.of("second_batch_for_same_key", bad)] if bad else []
    return CheckResult.from_violations("idempotent_create", groups, {"retriggers": len(retriggers)})


def all_terminal(snap: view.Snapshot) -> CheckResult:
    """Every item seen is in a terminal state (meaningful once faults are healed and time has passed)."""
    rows = [
        {"item_id": item, "batch_id": batch, "seq": seq, "state": snap.items[batch].get(seq)}
        for item, (batch, seq) in snap.ids.items()
        if snap.items[batch].get(seq) not in view.TERMINAL
    ]
    groups = [ViolationGroup.of("item_not_terminal", rows)] if rows else []
    return CheckResult.from_violations("all_terminal", groups, {"items": len(snap.ids)})
