"""Barriers: hold every call for item k (or the n-th call) so the harness can act at an exact moment.

The harness creates a barrier, waits (long-poll) until a call has arrived at it, injects its fault,
then either releases it (held calls go on to rules and the default answer) or abandons it (held
calls stay held, "left hanging", until their client goes away or a reset). Either way the barrier
stops catching new calls, and its state stays readable until the next reset.

Everything here runs on the server's event loop; no locks are needed and none are taken.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
from collections.abc import Coroutine
from typing import Any

from harness.faults.provider.model import BarrierState


class _Signal:
    """A broadcast "something changed": every waiter wakes, later waiters wait for the next change."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def wait(self) -> Coroutine[Any, Any, bool]:
        """Wait for the next notify; the event is picked now, not when the coroutine first runs
        (``wait_for`` starts it a loop turn later, and a notify in between would be lost)."""
        return self._event.wait()


class Barrier:
    """One barrier: its counters, and the event that lets its held calls go."""

    def __init__(
        self, barrier_id: str, item_id: str | None, attempt: int | None, nth: int | None = None
    ) -> None:
        self.id = barrier_id
        self.item_id = item_id
        self.attempt = attempt
        self.nth = nth
        self.arrived = 0
        self.waiting = 0
        self.released = False
        self.active = True
        self.opened = asyncio.Event()
        self._changed = _Signal()

    def matches(self, item_id: str | None, attempt: int | None, nth: int | None = None) -> bool:
        """True when this barrier holds such a call: active, and every field it gives matches."""
        return (
            self.active
            and (self.item_id is None or self.item_id == item_id)
            and (self.attempt is None or self.attempt == attempt)
            and (self.nth is None or self.nth == nth)
        )

    def arrive(self) -> None:
        """Count a call that is now held here (and wake ``/wait``)."""
        self.arrived += 1
        self.waiting += 1
        self._changed.notify()

    def leave(self) -> None:
        """Count a held call that moved on (released, aborted or reset)."""
        self.waiting -= 1
        self._changed.notify()

    def release(self) -> None:
        """Let every held call go on; the barrier catches no further calls."""
        self.released = True
        self.active = False
        self.opened.set()
        self._changed.notify()

    def deactivate(self) -> None:
        """Catch no further calls; held calls stay held."""
        self.active = False
        self._changed.notify()

    def state(self) -> BarrierState:
        """The control API's view of this barrier."""
        return BarrierState(
            id=self.id,
            item_id=self.item_id,
            attempt=self.attempt,
            nth=self.nth,
            arrived=self.arrived,
            waiting=self.waiting,
            released=self.released,
            active=self.active,
        )

    def changed(self) -> Coroutine[Any, Any, bool]:
        """Completes at the next change of the counters or the flags (counted from this call on)."""
        return self._changed.wait()


class WaitResult(enum.Enum):
    """How a ``/wait`` long-poll ended."""

    REACHED = "reached"  #: ``arrived >= count``
    TIMEOUT = "timeout"  #: the timeout passed first
    INACTIVE = "inactive"  #: the barrier was released, abandoned or reset first: no call can arrive


class BarrierBoard:
    """All barriers of the current scenario, in creation order."""

    def __init__(self) -> None:
        self._barriers: dict[str, Barrier] = {}
        self._ids = itertools.count(1)

    def add(self, item_id: str | None, attempt: int | None, nth: int | None = None) -> Barrier:
        """Create a barrier; it catches matching calls from now on. ``item_id`` or ``nth`` is required."""
        if item_id is None and nth is None:
            raise ValueError("barrier: item_id or nth is required (at least one of them)")
        barrier = Barrier(f"b{next(self._ids)}", item_id, attempt, nth)
        self._barriers[barrier.id] = barrier
        return barrier

    def get(self, barrier_id: str) -> Barrier | None:
        """The barrier of this id, also after its release or abandon; None after a reset."""
        return self._barriers.get(barrier_id)

    def all(self) -> list[Barrier]:
        """Every barrier, in creation order."""
        return list(self._barriers.values())

    def match(self, item_id: str | None, attempt: int | None, nth: int | None = None) -> Barrier | None:
        """The first active barrier that holds this call, if any."""
        return next((b for b in self._barriers.values() if b.matches(item_id, attempt, nth)), None)

    def reset(self) -> None:
        """Forget every barrier; waiters wake with ``INACTIVE``. Held calls are freed by the caller."""
        for barrier in self._barriers.values():
            barrier.deactivate()
        self._barriers = {}

    @staticmethod
    async def wait(barrier: Barrier, count: int, timeout: float) -> WaitResult:
        """Long-poll until ``count`` calls have arrived at ``barrier`` (it never blocks the loop)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if barrier.arrived >= count:
                return WaitResult.REACHED
            if not barrier.active:
                return WaitResult.INACTIVE
            remaining = deadline - loop.time()
            if remaining <= 0:
                return WaitResult.TIMEOUT
            try:
                await asyncio.wait_for(barrier.changed(), remaining)
            except TimeoutError:
                return WaitResult.REACHED if barrier.arrived >= count else WaitResult.TIMEOUT
