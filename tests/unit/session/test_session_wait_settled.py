"""When a session's ``wait STATE`` may end early: every item of its batches seen and done, in a
sample begun after the wait did, and no ``retry`` sent (a target may requeue failed items later)."""

from __future__ import annotations

from types import SimpleNamespace

from harness.session.engine import Session
from harness.session.view import Snapshot


def _session(*, samples: int = 5, retried: bool = False) -> Session:
    session = object.__new__(Session)  # only the fields these two rules read
    session.life = SimpleNamespace(sampler=SimpleNamespace(items_sql="SELECT", samples_taken=samples))  # type: ignore[assignment]
    session.batches = ["b1"]
    session.creates = [("key", 3)]
    session.retried = retried
    return session


def _snapshot(states: list[str]) -> Snapshot:
    return Snapshot(batches={"b1": "?"}, items={"b1": dict(enumerate(states, 1))})


def test_every_item_seen_and_done_is_settled() -> None:
    assert _session()._settled(_snapshot(["completed", "failed", "completed"]))


def test_an_item_not_done_or_not_seen_yet_or_a_retry_is_not_settled() -> None:
    assert not _session()._settled(_snapshot(["completed", "processing", "completed"]))
    assert not _session()._settled(_snapshot(["completed", "completed"]))  # the third not sampled yet
    assert not _session(retried=True)._settled(_snapshot(["failed", "failed", "failed"]))


def test_only_a_sample_begun_after_the_wait_counts() -> None:
    session = _session(samples=5)
    assert not session._fresh(5) and not session._fresh(4)  # the 6th may have begun before the wait
    assert session._fresh(3)
    api_read = _session()
    api_read.life = SimpleNamespace(sampler=None)  # type: ignore[assignment]
    assert api_read._fresh(None)  # the API is read at each snapshot: always of now
