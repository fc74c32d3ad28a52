"""The session's ``wait``: a script's pause, a state of the session's items, or a pacing point.

``wait 2s`` only pauses. ``wait STATE`` polls the item states (sampled from the database, else
read through the target's API) until an item is in it (``done``: every item finished), and ends at
once with an error when no item can reach it any more, rather than sitting out its timeout.
``wait inflight|hit`` polls the provider's ledger and, unlike a state, lets the script go on at its
timeout: it only paces. Every wait lets go of the session's lock between polls, so a timed heal
runs meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.session import view
from harness.session.grammar import PACING_WAITS, Command, CommandError

if TYPE_CHECKING:
    from harness.session.engine import Session

#: between two polls of what a wait waits for
POLL_S = 0.05


def run_wait(session: Session, cmd: Command) -> list[str]:
    """Run ``cmd`` (a ``wait``) on ``session``, whose lock the caller holds; the lines to show."""
    timeout, state = float(cmd.duration_s or 0), cmd.name
    deadline = time.monotonic() + timeout
    paced = Pacing(session, str(state), service=cmd.target) if state in PACING_WAITS else None
    began = samples_taken(session)
    while True:
        if paced is not None:
            if paced.reached():
                return [f"waited: {paced.what}"]
        elif state is not None:  # the session's batches; all, until it has started one
            snap = session.own_snapshot() if session.batches else session.snapshot()
            if snap.all_done() if state == "done" else snap.item_states()[state] > 0:
                return [f"waited: {'every item done' if state == 'done' else 'an item is ' + state}"]
            if fresh(began, samples_taken(session)) and settled(
                snap, session.batches, [size for _, size in session.creates], retried=session.retried
            ):  # say so now, not at the timeout
                raise CommandError(
                    f"no item will be {state}: every item of the session's batches is done "
                    f"({session.summary()}); to meet items in flight, slow or hold the provider "
                    "before starting the batch (provider baseline 300ms, provider hang)"
                )
        if time.monotonic() >= deadline:
            if state is None:
                return []
            if paced is not None:
                return [f"not reached within {timeout:g}s: {paced.what}; going on"]
            raise CommandError(f"timed out after {timeout:g}s waiting for {state} ({session.summary()})")
        pause(session, min(POLL_S, max(0.0, deadline - time.monotonic())))


def pause(session: Session, seconds: float) -> None:
    """Sleep with the session's lock let go (a timed heal may run meanwhile), then take it back."""
    session.lock.release()
    try:
        time.sleep(seconds)
    finally:
        session.lock.acquire()


def samples_taken(session: Session) -> int | None:
    """Samples taken so far (None: the states are read through the API, each snapshot of now)."""
    sampler = session.sampler
    return sampler.samples_taken if session.sampled and sampler is not None else None


def fresh(began: int | None, now: int | None) -> bool:
    """A snapshot taken at sample count ``now`` holds states of after ``began``: the second sample
    since then began after it (the first may have been under way, with the states of before)."""
    return began is None or now is None or now >= began + 2


def settled(snap: view.Snapshot, batches: Sequence[str], sizes: Sequence[int], *, retried: bool) -> bool:
    """Every item of every batch the session started (``sizes``: how many each asked for) was seen,
    and each is in a terminal state: no state but the ones they are in can be reached (a blocking
    wait runs no other command). Not after a ``retry``: the target may requeue failed items later
    than it answers."""
    if not batches or retried or not snap.all_done():
        return False
    return all(len(snap.items.get(b, {})) >= size for b, size in zip(batches, sizes, strict=True))


class Pacing:
    """One pacing wait on the provider's ledger, read incrementally (each poll fetches only the
    calls that arrived since the previous one: under load the ledger holds thousands).

    ``inflight``: a provider call is in flight (the first poll reads the whole ledger, for a call
    that arrived before the wait; later polls, the new calls). ``hit``: a call that arrived since
    the active provider fault was injected was answered by it (its rule; set when the call arrives).
    """

    def __init__(self, session: Session, kind: str, *, service: str | None = None) -> None:
        self.session, self.kind, self.service = session, kind, service
        self.what = (
            "the fault hit"
            if kind == "hit"
            else f"a provider call{f' of {service}' if service else ''} in flight"
        )
        self.seen: int | None = session.provider_fault_seq if kind == "hit" else None

    def reached(self) -> bool:
        s = self.session
        if self.kind == "hit" and (
            self.seen is None or not any(target == "provider" for _, target in s.faults.open_faults())
        ):
            return False  # no provider fault is active: nothing can hit it
        entries = s.stack.provider.ledger(since=self.seen)
        self.seen = max((e.seq for e in entries), default=self.seen)
        if self.kind == "inflight":
            return any(e.in_flight and self._held_by_service(e.item_id) for e in entries)
        return any(e.rule_id for e in entries)

    def _held_by_service(self, item_id: str | None) -> bool:
        """The call's item is held by the awaited service; any call will do without a service, or
        where the target does not say who holds its items (then this is the plain ``inflight``)."""
        if self.service is None:
            return True
        holder = self.session.holder_of(item_id) if item_id else None
        return holder is None or holder == self.service
