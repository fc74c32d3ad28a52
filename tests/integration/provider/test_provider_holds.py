"""Calls the provider holds: hangs, trickles, barriers, and how they end (client gone, release, reset)."""

from __future__ import annotations

import time

import pytest
import requests
from provider_testkit import Background, Target, eventually

from harness.errors import ProviderError
from harness.faults.provider.client import ProviderClient
from harness.faults.provider.model import LedgerEntry, Outcome


def _ended(provider: ProviderClient) -> LedgerEntry | None:
    """The first ledger entry once its call is over, else None."""
    entry = provider.ledger()[0]
    return None if entry.in_flight else entry


def test_hang_times_the_client_out_and_is_recorded_aborted(provider: ProviderClient, target: Target) -> None:
    provider.add_rule("item-1", hang=True)

    asked = time.monotonic()  # the client's 0.3 s read timeout runs from after this
    with pytest.raises(requests.ReadTimeout):
        target.generate("item-1", timeout=0.3)

    entry = eventually(lambda: _ended(provider), what="hanging call ended")
    assert (entry.status, entry.outcome) == (None, Outcome.ABORTED)
    # The hang lasted until the client gave up. Measured from the client's side: the provider (a thread
    # here, same monotonic clock) stamps the arrival when a loaded machine gets round to it, so the
    # provider's own arrival-to-end span can be a little under the client's 0.3 s.
    assert entry.answered_at is not None and entry.arrived_at >= asked
    assert entry.answered_at - asked >= 0.3


def test_hang_does_not_block_other_calls(
    provider: ProviderClient, target: Target, background: Background
) -> None:
    provider.add_rule("item-1", hang=True)
    hanging = background.generate("item-1")
    eventually(lambda: provider.ledger() and provider.ledger()[0].outcome == Outcome.HANG, what="hang")

    assert target.generate("item-2").status_code == 200
    assert provider.health()
    assert not hanging.done()


def test_trickle_sends_single_bytes_and_a_read_timeout_never_fires(
    provider: ProviderClient, target: Target
) -> None:
    provider.add_rule("item-2", trickle_ms=40)

    started = time.monotonic()
    with target.generate("item-2", timeout=(2.0, 0.5), stream=True) as answer:
        assert answer.status_code == 200
        assert provider.ledger()[0].outcome == Outcome.TRICKLE
        chunks = answer.iter_content(chunk_size=1)
        received = [next(chunks) for _ in range(6)]
    elapsed = time.monotonic() - started

    assert received == [b" "] * 6
    assert elapsed >= 6 * 0.04  # one byte per 40 ms, each read well within its 0.5 s read timeout
    entry = eventually(lambda: _ended(provider), what="trickle ended")
    assert (entry.status, entry.outcome) == (200, Outcome.ABORTED)


def test_barrier_holds_a_call_until_released(
    provider: ProviderClient, target: Target, background: Background
) -> None:
    gate = provider.barrier("item-8")
    held = background.generate("item-8")

    state = gate.wait(timeout=5)

    assert (state.arrived, state.waiting, state.released, state.active) == (1, 1, False, True)
    [entry] = provider.ledger()
    assert (entry.outcome, entry.barrier_id, entry.answered_at) == (Outcome.HELD, gate.id, None)
    assert target.generate("item-9").status_code == 200  # others go through meanwhile
    assert not held.done()

    released = gate.release()

    assert held.result(timeout=5).json()["item_id"] == "item-8"
    assert (released.released, released.active) == (True, False)
    assert (provider.ledger()[0].outcome, provider.ledger()[0].status) == (Outcome.OK, 200)
    assert target.generate("item-8").status_code == 200  # a released barrier catches no new call
    assert gate.state().waiting == 0


def test_released_call_goes_on_to_the_rules(
    provider: ProviderClient, target: Target, background: Background
) -> None:
    provider.add_rule("item-8", status=500)
    with provider.barrier("item-8") as gate:
        held = background.generate("item-8")
        gate.wait(timeout=5)
    assert held.result(timeout=5).status_code == 500


def test_barrier_for_one_attempt_only(
    provider: ProviderClient, target: Target, background: Background
) -> None:
    gate = provider.barrier("item-4", attempt=2)

    assert target.generate("item-4").status_code == 200  # attempt 1 passes
    held = background.generate("item-4")
    assert gate.wait(timeout=5).arrived == 1
    gate.release()
    assert held.result(timeout=5).status_code == 200
    assert [e.barrier_id for e in provider.ledger()] == [None, gate.id]


def test_barrier_wait_for_several_calls(provider: ProviderClient, background: Background) -> None:
    gate = provider.barrier("item-3")
    calls = [background.generate("item-3") for _ in range(3)]

    state = gate.wait(timeout=5, count=3)

    assert (state.arrived, state.waiting) == (3, 3)
    gate.release()
    assert [c.result(timeout=5).status_code for c in calls] == [200, 200, 200]


def test_abandoned_barrier_leaves_the_call_hanging_until_reset(
    provider: ProviderClient, target: Target, background: Background
) -> None:
    gate = provider.barrier("item-8")
    held = background.generate("item-8")
    gate.wait(timeout=5)

    gate.abandon()

    state = gate.state()
    assert (state.active, state.released, state.waiting) == (False, False, 1)
    assert target.generate("item-8").status_code == 200  # new calls are no longer caught
    assert not held.done()

    provider.reset()

    answer = held.result(timeout=5)
    assert (answer.status_code, answer.json()) == (503, {"error": "reset"})
    assert provider.ledger() == []


def test_abandoned_barrier_can_still_be_released(provider: ProviderClient, background: Background) -> None:
    gate = provider.barrier("item-8")
    held = background.generate("item-8")
    gate.wait(timeout=5)
    gate.abandon()

    gate.release()

    assert held.result(timeout=5).status_code == 200


def test_reset_answers_held_and_hanging_calls_with_503(
    provider: ProviderClient, background: Background
) -> None:
    provider.add_rule("item-1", hang=True)
    gate = provider.barrier("item-2")
    hanging, held = background.generate("item-1"), background.generate("item-2")
    gate.wait(timeout=5)
    eventually(lambda: any(e.outcome == Outcome.HANG for e in provider.ledger()), what="hang")

    provider.reset()

    for call in (hanging, held):
        answer = call.result(timeout=5)
        assert (answer.status_code, answer.json()) == (503, {"error": "reset"})
    with pytest.raises(ProviderError, match="404"):
        gate.state()  # barrier ids do not survive a reset


def test_client_leaving_a_barrier_is_recorded_aborted(provider: ProviderClient, target: Target) -> None:
    gate = provider.barrier("item-6")

    with pytest.raises(requests.ReadTimeout):
        target.generate("item-6", timeout=0.3)

    eventually(lambda: gate.state().waiting == 0, what="held call gone")
    entry = provider.ledger()[0]
    assert (entry.outcome, entry.barrier_id) == (Outcome.ABORTED, gate.id)
    assert gate.state().arrived == 1


def test_barrier_wait_timeout_and_inactive_barrier_raise(provider: ProviderClient) -> None:
    gate = provider.barrier("nobody-calls")

    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"0 of 1 call\(s\) arrived.*hint"):
        gate.wait(timeout=0.2)
    assert time.monotonic() - started < 10  # gave up after its 0.2 s (room for a loaded machine)

    gate.release()
    with pytest.raises(ProviderError, match="no longer catches calls"):
        gate.wait(timeout=5)


def test_control_api_answers_while_many_calls_are_held(
    provider: ProviderClient, background: Background
) -> None:
    gate = provider.barrier("busy")
    calls = [background.generate("busy") for _ in range(6)]
    gate.wait(timeout=5, count=6)

    started = time.monotonic()
    for _ in range(10):
        provider.health()
        provider.ledger()
    # prompt, not queued behind the held calls (those would never answer before the release)
    assert time.monotonic() - started < 10

    gate.release()
    assert all(c.result(timeout=5).status_code == 200 for c in calls)
