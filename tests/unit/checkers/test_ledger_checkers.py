"""Each ledger checker proven by a literal history that violates it, and one that does not."""

from __future__ import annotations

from typing import Any

from harness.checkers import Validity, run_checker
from harness.checkers.ledger import (
    calls_only_for,
    exactly_once,
    no_calls_during,
    not_called_again,
    same_idempotency_key,
)


def call(
    item: str, t: float, *, ok: bool = True, key: str | None = None, kind: str = "generate"
) -> dict[str, Any]:
    return {
        "kind": kind,
        "item_id": item,
        "idempotency_key": key or f"key-{item}",
        "arrived_at": t,
        "status": 200 if ok else 500,
        "outcome": "ok" if ok else "error",
    }


def test_exactly_once_passes_with_one_successful_call_per_item() -> None:
    ledger = [call("a", 1), call("b", 2, ok=False), call("b", 3), call("c", 4, kind="listing")]
    result = exactly_once(ledger, ["a", "b"])
    assert result.valid is Validity.TRUE
    assert result.evidence == {
        "provider_calls": 3,
        "successful_calls": 2,
        "completed_items": 2,
        "duplicates": 0,
    }


def test_exactly_once_flags_a_duplicate_billed_call() -> None:
    ledger = [call("a", 1), call("a", 2), call("a", 3), call("b", 4)]
    result = exactly_once(ledger, ["a", "b"])
    assert result.valid is Validity.FALSE
    (group,) = result.violations
    assert group.kind == "duplicate_successful_calls"
    assert group.worst == {"item_id": "a", "successful_calls": 3}
    assert result.evidence["duplicates"] == 2


def test_exactly_once_flags_a_completed_item_never_called() -> None:
    result = exactly_once([call("a", 1)], ["a", "ghost"])
    assert [g.kind for g in result.violations] == ["completed_without_call"]


def test_same_idempotency_key_across_retries() -> None:
    good = [call("a", 1, ok=False, key="k1"), call("a", 2, key="k1")]
    bad = [call("a", 1, ok=False, key="k1"), call("a", 2, key="k2")]
    assert same_idempotency_key(good).valid is Validity.TRUE
    result = same_idempotency_key(bad)
    assert result.valid is Validity.FALSE
    assert result.violations[0].first["keys"] == ["k1", "k2"]


def test_retry_calls_only_the_failed_items() -> None:
    ledger = [call("a", 1), call("b", 2, ok=False), call("b", 10)]
    assert calls_only_for(ledger, ["b"], since=5).valid is Validity.TRUE
    reprocess_all = [*ledger, call("a", 11)]
    result = calls_only_for(reprocess_all, ["b"], since=5)
    assert result.valid is Validity.FALSE
    assert result.violations[0].first["item_id"] == "a"
    assert result.evidence["calls_after"] == 2


def test_no_call_during_an_open_breaker_allows_one_probe() -> None:
    ledger = [call("a", 1), call("b", 2.5), call("c", 4)]
    assert no_calls_during(ledger, [(2.0, 3.0)]).valid is Validity.TRUE
    hammering = [*ledger, call("d", 2.6), call("e", 2.7)]
    result = no_calls_during(hammering, [(2.0, 3.0)])
    assert result.valid is Validity.FALSE
    assert result.violations[0].count == 2


def test_completed_items_not_called_again() -> None:
    ledger = [call("a", 1), call("b", 2), call("c", 5)]
    assert not_called_again(ledger, ["a", "b"], since=3).valid is Validity.TRUE
    restarted_from_one = [*ledger, call("a", 6)]
    assert not_called_again(restarted_from_one, ["a", "b"], since=3).valid is Validity.FALSE


def test_a_crashing_checker_is_unknown_not_an_exception() -> None:
    result = run_checker("broken", lambda: same_idempotency_key([{"no": "fields"}]))
    assert result.valid is Validity.UNKNOWN
    assert result.error is not None and "KeyError" in result.error
