"""Scripted answers of the real mock provider, seen by a real HTTP client, and their ledger entries."""

from __future__ import annotations

import json
import time

import pytest
from provider_testkit import Target

from harness.faults.provider.client import ProviderClient
from harness.faults.provider.model import Kind, Outcome


def test_default_answer_and_its_ledger_entry(provider: ProviderClient, target: Target) -> None:
    before_mono, before_wall = time.monotonic(), time.time()
    answer = target.generate(
        "item-1",
        batch_id="batch-9",
        headers={"Idempotency-Key": "key-1", "X-Correlation-Id": "corr-1", "X-Attempt": "3"},
    )
    after_mono = time.monotonic()

    assert answer.status_code == 200
    assert answer.json() == {
        "id": "call-1",
        "item_id": "item-1",
        "output": "result:item-1",
        "idempotency_key": "key-1",
    }
    assert answer.headers["X-Correlation-Id"] == "corr-1"
    [entry] = provider.ledger()
    assert (entry.seq, entry.kind, entry.item_id, entry.batch_id) == (1, Kind.GENERATE, "item-1", "batch-9")
    assert (entry.idempotency_key, entry.correlation_id, entry.attempt_header) == ("key-1", "corr-1", 3)
    assert (entry.attempt, entry.status, entry.outcome, entry.rule_id, entry.barrier_id) == (
        1,
        200,
        Outcome.OK,
        None,
        None,
    )
    # monotonic stamps of the provider process are comparable with this process's clock
    assert entry.answered_at is not None
    assert before_mono <= entry.arrived_at <= entry.answered_at <= after_mono
    assert before_wall - 1 <= entry.arrived_wall <= time.time() + 1


def test_attempts_are_counted_per_item_id(provider: ProviderClient, target: Target) -> None:
    for item_id in ("a", "b", "a", "a", "b"):
        target.generate(item_id)

    assert [(e.item_id, e.attempt) for e in provider.ledger()] == [
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("a", 3),
        ("b", 2),
    ]


def test_per_attempt_rule_fails_the_first_attempt_only(provider: ProviderClient, target: Target) -> None:
    rule_id = provider.add_rule("item-7", attempt=1, status=500)

    first, second = target.generate("item-7"), target.generate("item-7")

    assert first.status_code == 500
    assert first.json()["error"]["type"] == "server_error"
    assert second.status_code == 200
    ledger = provider.ledger()
    assert [(e.attempt, e.status, e.outcome, e.rule_id) for e in ledger] == [
        (1, 500, Outcome.ERROR, rule_id),
        (2, 200, Outcome.OK, None),
    ]


def test_times_limits_a_rule_and_its_use_is_counted(provider: ProviderClient, target: Target) -> None:
    provider.add_rule(times=2, status=503)

    statuses = [target.generate(f"item-{n}").status_code for n in range(1, 4)]

    assert statuses == [503, 503, 200]
    [rule] = provider.rules()
    assert (rule.times, rule.used, rule.response.status) == (2, 2, 503)


def test_first_matching_rule_in_creation_order_wins(provider: ProviderClient, target: Target) -> None:
    provider.add_rule("item-1", status=404)
    provider.add_rule(status=502)

    assert target.generate("item-1").status_code == 404
    assert target.generate("item-2").status_code == 502


@pytest.mark.parametrize(("retry_after", "header"), [(2, "2"), (0.25, "0.25")])
def test_429_carries_retry_after(
    provider: ProviderClient, target: Target, retry_after: float, header: str
) -> None:
    provider.add_rule("item-3", status=429, retry_after=retry_after)

    answer = target.generate("item-3")

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == header
    assert answer.json()["error"]["type"] == "rate_limited"


def test_malformed_body_is_not_json(provider: ProviderClient, target: Target) -> None:
    provider.add_rule("item-5", malformed=True)

    answer = target.generate("item-5")

    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)
    assert provider.ledger()[0].outcome == Outcome.MALFORMED


def test_custom_body_replaces_the_default(provider: ProviderClient, target: Target) -> None:
    body = {"error": {"type": "invalid_request", "message": "prompt too long", "code": "context_length"}}
    provider.add_rule("item-7", status=400, body=body)

    answer = target.generate("item-7")

    assert (answer.status_code, answer.json()) == (400, body)


def test_delay_and_default_delay_hold_the_answer(provider: ProviderClient, target: Target) -> None:
    provider.configure(default_delay_ms=150)
    provider.add_rule("fast", delay_ms=0)

    started = time.monotonic()
    assert target.generate("slow").status_code == 200
    assert time.monotonic() - started >= 0.15
    entry = provider.ledger()[0]
    assert entry.answered_at is not None and entry.answered_at - entry.arrived_at >= 0.15
    assert target.generate("fast").status_code == 200  # a rule's own delay replaces the default


def test_invalid_body_is_answered_400_and_recorded(provider: ProviderClient, target: Target) -> None:
    answer = target.session.post(f"{target.base_url}/v1/generate", data=b"not json", timeout=5)

    assert answer.status_code == 400
    [entry] = provider.ledger()
    assert (entry.item_id, entry.attempt, entry.status, entry.outcome) == (None, None, 400, Outcome.ERROR)


def test_listing_pages_through_all_items(provider: ProviderClient, target: Target) -> None:
    ids: list[str] = []
    cursor: int | None = 0
    pages = 0
    while cursor is not None:
        page = target.listing(cursor=cursor).json()
        ids += [item["id"] for item in page["items"]]
        assert page["has_more"] is (page["next_cursor"] is not None)
        cursor = page["next_cursor"]
        pages += 1

    assert ids == [f"src-{n}" for n in range(1, 21)]
    assert pages == 4  # 20 items, default page size 5
    ledger = provider.ledger()
    assert [(e.kind, e.cursor, e.attempt, e.status) for e in ledger] == [
        (Kind.LISTING, c, 1, 200) for c in (0, 5, 10, 15)
    ]


def test_listing_limit_total_and_never_ending(provider: ProviderClient, target: Target) -> None:
    provider.configure(listing_total=3)
    assert target.listing(limit=10).json() == {
        "items": [{"id": "src-1"}, {"id": "src-2"}, {"id": "src-3"}],
        "has_more": False,
        "next_cursor": None,
    }

    provider.configure(listing_never_ending=True)
    page = target.listing(cursor=1000, limit=2).json()
    assert page == {"items": [{"id": "src-1001"}, {"id": "src-1002"}], "has_more": True, "next_cursor": 1002}
    target.listing(cursor=1000, limit=2)
    assert [e.attempt for e in provider.ledger()] == [1, 1, 2]  # a re-fetched page counts as a retry


def test_listing_rejects_a_bad_cursor(provider: ProviderClient, target: Target) -> None:
    answer = target.listing(cursor="abc")

    assert answer.status_code == 400
    assert "cursor" in answer.json()["error"]["message"]
    assert provider.ledger()[0].outcome == Outcome.ERROR


def test_ledger_since_returns_later_entries_only(provider: ProviderClient, target: Target) -> None:
    for n in range(4):
        target.generate(f"item-{n}")

    assert [e.seq for e in provider.ledger(since=2)] == [3, 4]
    assert provider.ledger(since=4) == []


def test_reset_restores_everything(provider: ProviderClient, target: Target) -> None:
    provider.configure(listing_total=1, default_delay_ms=5)
    provider.add_rule(status=500)
    provider.barrier("x")
    target.generate("item-1")

    provider.reset()

    assert provider.ledger() == []
    assert provider.rules() == []
    assert provider.config().listing_total == 20
    assert target.generate("item-1").status_code == 200
    assert provider.ledger()[0].attempt == 1  # attempt counts start again
