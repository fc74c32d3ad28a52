"""When a session's ``wait STATE`` may end early: every item of its batches seen and done, in a
sample begun after the wait did, and no ``retry`` sent (a target may requeue failed items later)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from harness.session.view import Snapshot
from harness.session.waits import fresh, samples_taken, settled


def _snapshot(states: list[str]) -> Snapshot:
    return Snapshot(batches={"b1": "?"}, items={"b1": dict(enumerate(states, 1))})


def _settled(states: list[str], *, retried: bool = False) -> bool:
    return settled(_snapshot(states), ["b1"], [3], retried=retried)


def test_every_item_seen_and_done_is_settled() -> None:
    assert _settled(["completed", "failed", "completed"])


def test_an_item_not_done_or_not_seen_yet_or_a_retry_is_not_settled() -> None:
    assert not _settled(["completed", "processing", "completed"])
    assert not _settled(["completed", "completed"])  # the third not sampled yet
    assert not _settled(["failed", "failed", "failed"], retried=True)
    assert not settled(_snapshot(["completed"]), [], [], retried=False)  # no batch of the session's


def test_only_a_sample_begun_after_the_wait_counts() -> None:
    assert not fresh(5, 5) and not fresh(5, 6)  # the 6th may have begun before the wait
    assert fresh(5, 7)
    assert fresh(None, None)  # the API is read at each snapshot: always of now


def test_samples_are_counted_only_where_the_states_are_sampled() -> None:
    sampler = SimpleNamespace(items_sql="SELECT", samples_taken=4)
    sampled: Any = SimpleNamespace(sampled=True, sampler=sampler)
    assert samples_taken(sampled) == 4
    api_read: Any = SimpleNamespace(sampled=False, sampler=None)
    assert samples_taken(api_read) is None
