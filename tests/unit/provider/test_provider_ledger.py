"""Ledger: attempt counting, ``since``, in-place updates, and isolation of calls across a reset."""

from __future__ import annotations

from harness.faults.provider.ledger import Ledger
from harness.faults.provider.listing import page
from harness.faults.provider.model import Kind, Outcome, ProviderConfig


def test_attempts_count_per_item_and_per_listing_cursor() -> None:
    ledger = Ledger()
    for item_id in ("a", "b", "a"):
        ledger.record(Kind.GENERATE, item_id=item_id)
    ledger.record(Kind.LISTING, cursor=0)
    ledger.record(Kind.LISTING, cursor=0)
    ledger.record(Kind.GENERATE, item_id="a", counted=False)

    assert [(e.seq, e.attempt) for e in ledger.entries()] == [
        (1, 1),
        (2, 1),
        (3, 2),
        (4, 1),
        (5, 2),
        (6, None),
    ]
    assert [e.seq for e in ledger.entries(since=4)] == [5, 6]


def test_slot_updates_in_place_and_end_stamps_answered_at() -> None:
    ledger = Ledger()
    slot = ledger.record(Kind.GENERATE, item_id="a")
    assert slot.entry.in_flight

    slot.update(outcome=Outcome.HELD, barrier_id="b1")
    ended = slot.end(status=200, outcome=Outcome.OK)

    assert ledger.entries() == [ended]
    assert ended.barrier_id == "b1" and ended.answered_at is not None
    assert ended.answered_at >= ended.arrived_at


def test_a_call_from_before_a_reset_cannot_touch_the_new_ledger() -> None:
    ledger = Ledger()
    old = ledger.record(Kind.GENERATE, item_id="a")
    ledger.reset()
    new = ledger.record(Kind.GENERATE, item_id="a")

    old.end(status=503, outcome=Outcome.RESET)

    assert ledger.entries() == [new.entry]
    assert (new.entry.seq, new.entry.attempt, new.entry.outcome) == (1, 1, None)


def test_listing_pages() -> None:
    config = ProviderConfig(listing_total=7, listing_page_size=3)

    assert page(config, 0, None) == {
        "items": [{"id": "src-1"}, {"id": "src-2"}, {"id": "src-3"}],
        "has_more": True,
        "next_cursor": 3,
    }
    assert page(config, 6, None) == {"items": [{"id": "src-7"}], "has_more": False, "next_cursor": None}
    assert page(config, 50, 2) == {"items": [], "has_more": False, "next_cursor": None}
    never = ProviderConfig(listing_total=7, listing_never_ending=True)
    assert page(never, 50, 1) == {"items": [{"id": "src-51"}], "has_more": True, "next_cursor": 51}


def test_nth_counts_every_work_call_in_arrival_order_and_restarts_after_a_reset() -> None:
    ledger = Ledger()
    ledger.record(Kind.GENERATE, item_id="a")
    ledger.record(Kind.LISTING, cursor=0)
    ledger.record(Kind.GENERATE, item_id="b")
    ledger.record(Kind.GENERATE, item_id="a", counted=False)  # invalid, still a work call
    ledger.record(Kind.GENERATE, item_id="a")

    assert [(e.kind, e.nth) for e in ledger.entries()] == [
        (Kind.GENERATE, 1),
        (Kind.LISTING, None),
        (Kind.GENERATE, 2),
        (Kind.GENERATE, 3),
        (Kind.GENERATE, 4),
    ]
    ledger.reset()
    ledger.record(Kind.LISTING, cursor=0)
    assert ledger.record(Kind.GENERATE, item_id="c").entry.nth == 1
