"""The ledger: every call the mock provider received, in arrival order, updated in place.

A call is recorded the moment its request is read (so a call held at a barrier or hanging is
already visible) and its entry is updated when it ends. A reset starts a new ledger; a call still
in flight from before the reset keeps a :class:`Slot` into the old one, so its late update cannot
leak into the new scenario. One lock guards everything: the server mutates the ledger from its
event loop, while an embedding process may read it from another thread.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from harness.faults.provider.model import Kind, LedgerEntry


class Slot:
    """A call's handle on its own entry: read it, update it; after a reset it points at the old ledger."""

    def __init__(self, lock: threading.Lock, entries: list[LedgerEntry], index: int) -> None:
        self._lock = lock
        self._entries = entries
        self._index = index

    @property
    def entry(self) -> LedgerEntry:
        """The entry as it is now."""
        with self._lock:
            return self._entries[self._index]

    def update(self, **changes: Any) -> LedgerEntry:
        """Replace some fields of the entry; returns the new version."""
        with self._lock:
            entry = dataclasses.replace(self._entries[self._index], **changes)
            self._entries[self._index] = entry
            return entry

    def end(self, **changes: Any) -> LedgerEntry:
        """Update the entry and stamp ``answered_at``: the call is over."""
        return self.update(answered_at=time.monotonic(), **changes)


class Ledger:
    """Thread-safe, append-only-per-scenario record of calls with per-item attempt counting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LedgerEntry] = []
        self._attempts: dict[tuple[Kind, str | int | None], int] = {}
        self._work_calls = 0

    def record(
        self,
        kind: Kind,
        *,
        item_id: str | None = None,
        batch_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        attempt_header: int | None = None,
        cursor: int | None = None,
        counted: bool = True,
    ) -> Slot:
        """Append an in-flight entry; ``attempt`` is the n-th call for this item id (or cursor).

        ``counted=False`` records a call that could not be attributed (an invalid body): it gets
        no attempt number and does not shift the count of a real item. Every ``generate`` entry,
        invalid or not, gets ``nth``: its 1-based place among this scenario's work calls.
        """
        key = (kind, item_id if kind is Kind.GENERATE else cursor)
        with self._lock:
            attempt = None
            if counted:
                attempt = self._attempts.get(key, 0) + 1
                self._attempts[key] = attempt
            nth = None
            if kind is Kind.GENERATE:
                self._work_calls += 1
                nth = self._work_calls
            seq = len(self._entries) + 1
            self._entries.append(
                LedgerEntry(
                    seq=seq,
                    kind=kind,
                    item_id=item_id,
                    batch_id=batch_id,
                    idempotency_key=idempotency_key,
                    correlation_id=correlation_id,
                    attempt=attempt,
                    nth=nth,
                    attempt_header=attempt_header,
                    cursor=cursor,
                    arrived_at=time.monotonic(),
                    arrived_wall=time.time(),
                )
            )
            return Slot(self._lock, self._entries, seq - 1)

    def entries(self, since: int = 0) -> list[LedgerEntry]:
        """Entries with ``seq > since``, oldest first (a snapshot: in-flight ones may change later)."""
        with self._lock:
            return self._entries[max(since, 0) :]

    def reset(self) -> None:
        """Forget every entry and count (attempt, nth); calls in flight keep updating their old entry."""
        with self._lock:
            self._entries = []
            self._attempts = {}
            self._work_calls = 0
