"""A pytest plugin for the harness's own tests: the runner stalls once a barrier holds the n-th call.

Loaded into a scenario run with ``-p stall_plugin``. The first ``CHAOS_TEST_STALLS`` waits on a
barrier aimed at the n-th work call (with ``CHAOS_TEST_STALL_ON=item``: at an item) do not return
at once: they return once the target's own
provider timeout has ended the held call and the target has gone on (``CHAOS_TEST_STALL_CALLS``
more work calls answered, 2 unless set; with ``CHAOS_TEST_STALL_SETTLE=1`` also every batch in the
target's store ended), which is what a runner descheduled for longer than that timeout looks like
to the target.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from harness.faults.provider.client import Barrier
from harness.faults.provider.model import BarrierState
from harness.plugin import RUN_KEY
from harness.workload import TERMINAL

_stalls_left = int(os.environ.get("CHAOS_TEST_STALLS", "0"))
_calls_after = int(os.environ.get("CHAOS_TEST_STALL_CALLS", "2"))
_settle = os.environ.get("CHAOS_TEST_STALL_SETTLE") == "1"
_on_item = os.environ.get("CHAOS_TEST_STALL_ON") == "item"
_real_wait = Barrier.wait
#: the scenario run in progress (its store tells when the batches ended)
_run: Any = None


def pytest_runtest_call(item: pytest.Item) -> None:
    global _run
    _run = item.stash.get(RUN_KEY, None)


def _ran_on(barrier: Barrier) -> bool:
    entries = barrier.client.ledger()
    held = next((e for e in entries if e.barrier_id == barrier.id), None)
    if held is None or held.answered_at is None or held.nth is None:
        return False
    answered = [e for e in entries if e.nth is not None and e.nth > held.nth and e.answered_at is not None]
    if len(answered) < _calls_after:
        return False
    return not _settle or all(b.state in TERMINAL for b in _run.observe.batches())


def _stalling_wait(self: Barrier, timeout: float, count: int = 1) -> BarrierState:
    global _stalls_left
    state = _real_wait(self, timeout, count)
    if (self.item_id is not None if _on_item else self.nth is not None) and _stalls_left > 0:
        _stalls_left -= 1
        deadline = time.monotonic() + timeout
        while not _ran_on(self) and time.monotonic() < deadline:
            time.sleep(0.02)
    return state


Barrier.wait = _stalling_wait  # type: ignore[method-assign]
