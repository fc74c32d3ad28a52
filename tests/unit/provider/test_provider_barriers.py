"""Barrier bookkeeping and the ``/wait`` long-poll, on a bare event loop (no server)."""

from __future__ import annotations

import asyncio

import pytest

from harness.faults.provider.barriers import BarrierBoard, WaitResult


def test_match_only_active_barriers_for_the_item_and_attempt() -> None:
    board = BarrierBoard()
    any_attempt = board.add("a", None)
    second = board.add("b", 2)

    assert board.match("a", 5) is any_attempt
    assert board.match("b", 1) is None
    assert board.match("b", 2) is second
    any_attempt.deactivate()
    assert board.match("a", 1) is None
    assert board.get(any_attempt.id) is any_attempt  # still readable until a reset
    board.reset()
    assert board.get(any_attempt.id) is None and not second.active


def test_wait_wakes_on_an_arrival_made_right_after_it_started() -> None:
    async def scenario() -> WaitResult:
        barrier = BarrierBoard().add("a", None)
        waiter = asyncio.ensure_future(BarrierBoard.wait(barrier, 1, timeout=5))
        await asyncio.sleep(0)  # the waiter is now inside wait_for, whose task has not run yet
        barrier.arrive()
        return await asyncio.wait_for(waiter, 1)  # a lost wake-up would take the whole 5 s

    assert asyncio.run(scenario()) is WaitResult.REACHED


def test_wait_counts_arrivals_and_reports_timeout_and_inactive() -> None:
    async def scenario() -> tuple[WaitResult, ...]:
        board = BarrierBoard()
        barrier = board.add("a", None)
        barrier.arrive()
        timed_out = await BarrierBoard.wait(barrier, 2, timeout=0.01)
        waiter = asyncio.ensure_future(BarrierBoard.wait(barrier, 2, timeout=5))
        await asyncio.sleep(0)
        barrier.arrive()
        reached = await waiter
        other = board.add("b", None)
        waiter = asyncio.ensure_future(BarrierBoard.wait(other, 1, timeout=5))
        await asyncio.sleep(0)
        board.reset()
        return timed_out, reached, await waiter

    assert asyncio.run(scenario()) == (WaitResult.TIMEOUT, WaitResult.REACHED, WaitResult.INACTIVE)


def test_release_opens_and_counts() -> None:
    barrier = BarrierBoard().add("a", None)
    barrier.arrive()
    barrier.release()
    barrier.leave()

    state = barrier.state()
    assert (state.arrived, state.waiting, state.released, state.active) == (1, 0, True, False)
    assert barrier.opened.is_set()


def test_nth_barrier_matches_that_work_call_whatever_its_item() -> None:
    board = BarrierBoard()
    third = board.add(None, None, nth=3)
    item_and_place = board.add("b", None, nth=5)

    assert board.match("a", 1, 2) is None
    assert board.match("a", 1, 3) is third
    assert board.match("z", 4, 3) is third
    assert board.match("a", 1, 5) is None  # item_id given too: both must match
    assert board.match("b", 1, 5) is item_and_place
    assert board.match("b", 1) is None  # no nth: a call that is not a work call
    assert third.state().nth == 3 and third.state().item_id is None


def test_a_barrier_needs_an_item_id_or_an_nth() -> None:
    with pytest.raises(ValueError, match="item_id or nth"):
        BarrierBoard().add(None, 2)
