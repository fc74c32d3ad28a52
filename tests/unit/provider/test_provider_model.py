"""Validation and JSON round trips of the values shared by the provider and its client."""

from __future__ import annotations

import pytest

from harness.faults.provider.model import (
    BarrierState,
    Kind,
    LedgerEntry,
    Outcome,
    ProviderConfig,
    Response,
    Rule,
)


def test_response_defaults_are_an_immediate_200() -> None:
    assert Response.from_json({}) == Response()
    assert Response().to_json() == {
        "status": 200,
        "delay_ms": 0,
        "hang": False,
        "trickle_ms": None,
        "malformed": False,
        "retry_after": None,
        "body": None,
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"status": 99}, "status"),
        ({"status": 600}, "status"),
        ({"status": "500"}, "status"),
        ({"delay_ms": -1}, "delay_ms"),
        ({"hang": 1}, "hang"),
        ({"trickle_ms": 0}, "trickle_ms"),
        ({"hang": True, "trickle_ms": 5}, "exclude"),
        ({"retry_after": True}, "retry_after"),
        ({"stauts": 500}, "unknown field.*stauts"),
        ([], "JSON object"),
    ],
)
def test_response_refuses_invalid_fields_by_name(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Response.from_json(data)


def test_rule_round_trip_and_matching() -> None:
    rule = Rule.from_json(
        {"item_id": "i", "attempt": 2, "times": 1, "response": {"status": 500}}, rule_id="r1"
    )

    assert Rule.from_json(rule.to_json()) == rule
    assert rule.matches("i", 2)
    assert not rule.matches("i", 1)
    assert not rule.matches("j", 2)
    assert not Rule(id="r1", times=1, used=1).matches("i", 1)  # used up
    assert Rule(id="r2").matches(None, None)  # no constraint: any call


def test_rule_post_body_may_choose_its_id_and_not_its_use_count() -> None:
    assert Rule.from_json({"id": "mine"}, rule_id="r1").id == "mine"
    assert Rule.from_json({}, rule_id="r1").id == "r1"
    with pytest.raises(ValueError, match=r"unknown field.*used"):
        Rule.from_json({"used": 3}, rule_id="r1")


def test_config_update_keeps_unnamed_fields_and_refuses_bools_as_ints() -> None:
    config = ProviderConfig().updated({"listing_total": 3})

    assert config == ProviderConfig(listing_total=3)
    with pytest.raises(ValueError, match="listing_total"):
        config.updated({"listing_total": True})


def test_ledger_entry_and_barrier_state_round_trip() -> None:
    entry = LedgerEntry(
        seq=1,
        kind=Kind.LISTING,
        item_id=None,
        batch_id=None,
        idempotency_key="k",
        correlation_id=None,
        attempt=1,
        attempt_header=None,
        cursor=5,
        arrived_at=1.0,
        arrived_wall=2.0,
        answered_at=1.5,
        status=200,
        outcome=Outcome.OK,
    )
    state = BarrierState(
        id="b1", item_id="i", attempt=None, arrived=1, waiting=0, released=True, active=False
    )

    assert LedgerEntry.from_json(entry.to_json()) == entry
    assert not entry.in_flight
    assert BarrierState.from_json(state.to_json()) == state


def test_rule_nth_matches_only_that_work_call_together_with_the_other_fields() -> None:
    by_place = Rule.from_json({"nth": 7, "response": {"status": 422}}, rule_id="r1")
    both = Rule(id="r2", item_id="i", nth=3)

    assert Rule.from_json(by_place.to_json()) == by_place
    assert by_place.to_json()["nth"] == 7
    assert by_place.matches("any-item", 1, 7)
    assert not by_place.matches("any-item", 1, 6)
    assert not by_place.matches("any-item", 1)  # a call without nth (not a work call)
    assert both.matches("i", 1, 3)
    assert not both.matches("j", 1, 3)  # every given field must match
    assert not both.matches("i", 1, 4)
    assert Rule(id="r3", item_id="i").matches("i", 1, 99)  # no nth: any place


@pytest.mark.parametrize("nth", [0, -1, True, "3", 2.0])
def test_rule_refuses_an_nth_that_is_not_a_positive_integer(nth: object) -> None:
    with pytest.raises(ValueError, match=r"^nth:"):
        Rule.from_json({"nth": nth}, rule_id="r1")


def test_barrier_state_carries_nth_and_reads_an_answer_without_it() -> None:
    state = BarrierState(
        id="b2", item_id=None, attempt=None, nth=8, arrived=0, waiting=0, released=False, active=True
    )
    old = {"id": "b1", "item_id": "i", "attempt": None, "arrived": 0, "waiting": 0}

    assert state.to_json()["nth"] == 8
    assert BarrierState.from_json(state.to_json()) == state
    assert BarrierState.from_json({**old, "released": False, "active": True}).nth is None
