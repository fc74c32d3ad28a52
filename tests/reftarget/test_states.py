"""The state machine: the legal transition table and the batch rollup."""

from __future__ import annotations

import pytest
from reftarget.states import (
    BATCH_TRANSITIONS,
    ITEM_STATES,
    ITEM_TRANSITIONS,
    Counts,
    State,
    is_legal,
    rollup,
)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (None, "queued"),
        ("queued", "processing"),
        ("processing", "completed"),
        ("processing", "retrying"),
        ("retrying", "processing"),
        ("processing", "failed"),
        ("failed", "queued"),
        ("timeout", "queued"),
        ("dead", "queued"),
        ("processing", "dead"),
        ("processing", "processing"),
        ("queued", "cancelled"),
        ("processing", "timeout"),
        ("processing", "queued"),
    ],
)
def test_legal_item_transitions(src: str | None, dst: str) -> None:
    assert is_legal("item", src, dst)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ("completed", "queued"),
        ("completed", "processing"),
        ("cancelled", "queued"),
        ("queued", "completed"),
        ("failed", "processing"),
        ("failed", "completed"),
        (None, "processing"),
        ("queued", "failed"),
        ("retrying", "completed"),
        ("processing", "partial"),
        ("timeout", "processing"),
        ("bogus", "queued"),
    ],
)
def test_illegal_item_transitions(src: str | None, dst: str) -> None:
    assert not is_legal("item", src, dst)


def test_terminal_states_have_no_way_out_and_partial_is_batch_only() -> None:
    assert ITEM_TRANSITIONS[State.COMPLETED] == frozenset()
    assert ITEM_TRANSITIONS[State.CANCELLED] == frozenset()
    assert BATCH_TRANSITIONS[State.COMPLETED] == frozenset()
    assert State.PARTIAL not in ITEM_STATES
    assert all(
        dst == State.QUEUED
        for src in (State.FAILED, State.TIMEOUT, State.DEAD)
        for dst in ITEM_TRANSITIONS[src]
    )
    assert is_legal("batch", "partial", "processing") and not is_legal("batch", "completed", "processing")


def c(**kw: int) -> Counts:
    return Counts(total=sum(kw.values()), **kw)


@pytest.mark.parametrize(
    ("counts", "current", "expected"),
    [
        (c(queued=3), State.QUEUED, State.QUEUED),
        (c(queued=2, processing=1), State.QUEUED, State.PROCESSING),
        (c(queued=1, completed=2), State.PROCESSING, State.PROCESSING),
        (c(retrying=2, completed=1), State.PROCESSING, State.RETRYING),
        (c(completed=3), State.PROCESSING, State.COMPLETED),
        (c(completed=2, failed=1), State.PROCESSING, State.PARTIAL),
        (c(completed=2, dead=1), State.PROCESSING, State.PARTIAL),
        (c(failed=3), State.PROCESSING, State.FAILED),
        (c(timeout=3), State.PROCESSING, State.TIMEOUT),
        (c(completed=1, timeout=2), State.TIMEOUT, State.TIMEOUT),  # the deadline decided
        (c(completed=1, cancelled=2), State.CANCELLED, State.CANCELLED),  # sticky
        (c(completed=1, queued=1), State.TIMEOUT, State.PROCESSING),  # a retry after the deadline
        (Counts(total=0), State.QUEUED, State.COMPLETED),
    ],
)
def test_rollup(counts: Counts, current: State, expected: State) -> None:
    assert rollup(counts, current) == expected


def test_rollup_defect_flags_change_the_answer() -> None:
    mixed = c(completed=19, failed=1)
    assert rollup(mixed, State.PROCESSING) == State.PARTIAL
    assert rollup(mixed, State.PROCESSING, binary_outcome=True) == State.FAILED
    assert rollup(mixed, State.PROCESSING, pending_only=True) == State.COMPLETED
