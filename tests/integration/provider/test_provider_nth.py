"""``nth``: rules and barriers aimed at the n-th work call, before the target's item ids are known."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests
from provider_testkit import Background, Target, eventually

from harness.errors import ProviderError
from harness.faults.provider.client import ProviderClient
from harness.faults.provider.model import Kind, LedgerEntry, Outcome


def _all_answered_but_the_third(provider: ProviderClient) -> list[LedgerEntry] | None:
    """The ledger once it has three entries and every call but the 3rd has been answered."""
    ledger = provider.ledger()
    done = len(ledger) == 3 and all(not e.in_flight for e in ledger if e.nth != 3)
    return ledger if done else None


def test_barrier_on_nth_holds_exactly_the_third_call(
    provider: ProviderClient, target: Target, background: Background
) -> None:
    gate = provider.barrier(nth=3)

    assert target.generate("item-a").status_code == 200
    assert target.generate("item-b").status_code == 200
    held = background.generate("item-c")
    state = gate.wait(timeout=5)

    assert (state.nth, state.item_id, state.arrived, state.waiting) == (3, None, 1, 1)
    assert target.generate("item-c").status_code == 200  # the 4th call, same item: not held
    assert not held.done()
    ledger = provider.ledger()
    assert [(e.item_id, e.nth, e.barrier_id) for e in ledger] == [
        ("item-a", 1, None),
        ("item-b", 2, None),
        ("item-c", 3, gate.id),
        ("item-c", 4, None),
    ]
    assert ledger[2].outcome == Outcome.HELD

    gate.release()

    assert held.result(timeout=5).json()["item_id"] == "item-c"
    assert gate.state().arrived == 1


def test_barrier_on_nth_among_concurrent_calls_holds_only_the_one_that_arrived_third(
    provider: ProviderClient, background: Background
) -> None:
    with provider.barrier(nth=3) as gate:
        calls = {item_id: background.generate(item_id) for item_id in ("item-x", "item-y", "item-z")}
        gate.wait(timeout=5)
        entries = eventually(lambda: _all_answered_but_the_third(provider), what="the other calls answered")

        [third] = [e for e in entries if e.barrier_id == gate.id]
        assert (third.nth, third.outcome) == (3, Outcome.HELD)
        assert [e.nth for e in entries] == [1, 2, 3]
        assert not calls[str(third.item_id)].done()
        others = [call for item_id, call in calls.items() if item_id != third.item_id]
        assert [call.result(timeout=5).status_code for call in others] == [200, 200]
    assert calls[str(third.item_id)].result(timeout=5).status_code == 200


def test_rule_on_nth_answers_only_the_second_call(provider: ProviderClient, target: Target) -> None:
    with provider.rule(nth=2, status=422) as rule_id:
        statuses = [target.generate(item_id).status_code for item_id in ("item-1", "item-2", "item-3")]
        [rule] = provider.rules()

    assert statuses == [200, 422, 200]
    assert (rule.nth, rule.used) == (2, 1)
    assert [(e.nth, e.status, e.rule_id) for e in provider.ledger()] == [
        (1, 200, None),
        (2, 422, rule_id),
        (3, 200, None),
    ]


def test_rule_needs_every_given_field_to_match(provider: ProviderClient, target: Target) -> None:
    provider.add_rule("item-2", nth=1, status=500)  # the 1st call is item-1: never matches

    assert [target.generate(i).status_code for i in ("item-1", "item-2")] == [200, 200]
    assert provider.rules()[0].used == 0


def test_ledger_entries_carry_nth_for_work_calls_and_null_for_listing(
    provider: ProviderClient, target: Target
) -> None:
    target.generate("a")
    target.listing()
    target.generate("b")
    target.session.post(f"{target.base_url}/v1/generate", data=b"not json", timeout=5)  # invalid
    target.listing(cursor=5)
    target.generate("a")

    assert [(e.kind, e.nth) for e in provider.ledger()] == [
        (Kind.GENERATE, 1),
        (Kind.LISTING, None),
        (Kind.GENERATE, 2),
        (Kind.GENERATE, 3),
        (Kind.LISTING, None),
        (Kind.GENERATE, 4),
    ]


def test_nth_counting_restarts_after_a_reset(
    provider: ProviderClient, target: Target, background: Background
) -> None:
    stale = provider.barrier(nth=2)
    target.generate("item-1")
    provider.reset()  # also drops the barrier: it must not catch the 2nd call of the new scenario

    provider.add_rule(nth=1, status=503)
    first = target.generate("item-1")
    second = target.generate("item-2")

    assert (first.status_code, second.status_code) == (503, 200)
    entries: list[LedgerEntry] = provider.ledger()
    assert [(e.seq, e.nth, e.barrier_id) for e in entries] == [(1, 1, None), (2, 2, None)]
    with pytest.raises(ProviderError, match="404"):
        stale.state()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "item_id or nth is required"),
        ({"attempt": 1}, "item_id or nth is required"),
        ({"item_id": None, "nth": None}, "item_id or nth is required"),
        ({"nth": 0}, "^nth:"),
        ({"nth": True}, "^nth:"),
        ({"nth": "3"}, "^nth:"),
        ({"item_id": "", "nth": 2}, "^item_id:"),
        ({"nth": 2, "attempt": 0}, "^attempt:"),
        ({"nth": 2, "place": 1}, "unknown field.*place"),
    ],
)
def test_barrier_body_refusals_name_the_field(
    provider: ProviderClient, body: dict[str, object], message: str
) -> None:
    answer = requests.post(f"{provider.base_url}/_control/barriers", json=body, timeout=5)

    assert answer.status_code == 400
    assert re.search(message, answer.json()["error"])
    assert provider._call("GET", "/_control/barriers") == []


@pytest.mark.parametrize(
    "call",
    [
        lambda p: p.add_rule(nth=0),
        lambda p: p.rule(nth=-1).__enter__(),
        lambda p: p.barrier(nth=0),
    ],
)
def test_client_refusals_of_a_bad_nth(
    provider: ProviderClient, call: Callable[[ProviderClient], object]
) -> None:
    with pytest.raises(ProviderError, match=r"400.*nth"):
        call(provider)
    assert provider.rules() == []
