"""Rule matching order and use counting, and the rendering of scripted answers to bytes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness.faults.provider.model import Outcome, Response, Rule
from harness.faults.provider.rules import RuleBook, format_retry_after, render


def _id(rule: Rule | None) -> str | None:
    return None if rule is None else rule.id


def test_first_rule_with_uses_left_wins_and_counts_a_use() -> None:
    book = RuleBook()
    once = book.add({"item_id": "a", "times": 1, "response": {"status": 500}})
    fallback = book.add({"response": {"status": 503}})

    assert book.take("a", 1) == dataclasses.replace(once, used=1)
    assert _id(book.take("a", 2)) == fallback.id  # ``once`` is used up
    assert _id(book.take("b", 1)) == fallback.id
    assert [(r.id, r.used) for r in book.snapshot()] == [(once.id, 1), (fallback.id, 2)]


def test_ids_are_never_reused_after_clear_or_remove() -> None:
    book = RuleBook()
    first = book.add({})
    assert book.remove(first.id)
    assert not book.remove(first.id)
    book.clear()

    assert book.add({}).id == "r2"


def test_a_chosen_id_is_kept_and_may_not_name_two_rules() -> None:
    book = RuleBook()
    assert book.add({"id": "outage-1"}).id == "outage-1"
    with pytest.raises(ValueError, match="'outage-1' exists already"):
        book.add({"id": "outage-1"})
    assert book.remove("outage-1")
    assert book.add({"id": "outage-1"}).id == "outage-1"  # removed: the id is free again


def test_default_and_error_bodies() -> None:
    ok = render(Response(), seq=4, item_id="i", idempotency_key="k", rule_id=None, attempt=1)
    error = render(Response(status=422), seq=5, item_id="i", idempotency_key="k", rule_id="r3", attempt=2)

    assert (ok.status, ok.outcome) == (200, Outcome.OK)
    assert json.loads(ok.body) == {
        "id": "call-4",
        "item_id": "i",
        "output": "result:i",
        "idempotency_key": "k",
    }
    assert (error.status, error.outcome) == (422, Outcome.ERROR)
    assert json.loads(error.body) == {
        "error": {"type": "invalid_request", "message": "rule r3: item i attempt 2 answered 422"}
    }


def test_malformed_body_does_not_parse() -> None:
    rendered = render(
        Response(malformed=True), seq=1, item_id="i", idempotency_key=None, rule_id="r1", attempt=1
    )

    assert rendered.outcome == Outcome.MALFORMED
    assert rendered.body.startswith(b'{"id": "call-1"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(rendered.body)


@pytest.mark.parametrize(("seconds", "header"), [(0, "0"), (30, "30"), (2.0, "2"), (0.5, "0.5")])
def test_retry_after_format(seconds: float, header: str) -> None:
    assert format_retry_after(seconds) == header
    rendered = render(
        Response(status=429, retry_after=seconds),
        seq=1,
        item_id="i",
        idempotency_key=None,
        rule_id=None,
        attempt=1,
    )
    assert rendered.headers["retry-after"] == header


def test_take_matches_nth_and_the_other_given_fields() -> None:
    book = RuleBook()
    second = book.add({"nth": 2, "response": {"status": 422}})
    fourth_of_a = book.add({"item_id": "a", "nth": 4, "response": {"status": 500}})

    assert book.take("x", 1, 1) is None
    assert _id(book.take("y", 1, 2)) == second.id
    assert book.take("b", 1, 4) is None
    assert _id(book.take("a", 2, 4)) == fourth_of_a.id
    assert book.take("a", 2) is None  # no nth given: an nth rule does not apply
    with pytest.raises(ValueError, match=r"^nth:"):
        book.add({"nth": 0})
