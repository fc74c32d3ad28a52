"""Background sampling of item and batch states from the target's database into the history.

The report's timelines need to show *when* each item was queued, processing, completed or failed,
relative to the faults. Scenarios only look at states at the moments they care about, so a small
thread polls the scenario's database (every ~50 ms) and records a ``sample`` event whenever an
entity's state changes (``item:<id>`` with its ``seq`` and ``batch_id``; ``batch:<id>``). Only
changes are recorded, so a quiet item costs nothing in the history.

It starts lazily: the stack gets its database only when the scenario calls ``stack.start()``, so
the thread waits for a DSN, then for the schema (the target creates its tables at start-up). A
database that is killed, paused or partitioned must not disturb the scenario: errors close the
connection, a ``db`` sample marks the outage once, and the thread retries at the same pace. The
queries are the target's own ``items`` and ``batches`` observations (``harness.target.observe``:
the canonical schema's unless its target file gives its own), and states are mapped onto the
canonical ones, so the timelines read the same for every target.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

SAMPLE_ITEMS_SQL = (
    "SELECT id::text, batch_id::text, seq, status FROM items ORDER BY batch_id, seq LIMIT %(limit)s"
)
SAMPLE_BATCHES_SQL = "SELECT id::text, status FROM batches ORDER BY created_at LIMIT %(limit)s"
DEFAULT_INTERVAL_S = 0.05
ROW_LIMIT = 5000
CONNECT_TIMEOUT_S = 2


class SampleRecorder(Protocol):
    """What the sampler needs from a history."""

    def sample(self, entity: str, state: str, **fields: Any) -> Any: ...


class StateSampler:
    """A daemon thread recording item / batch state changes; ``stop()`` always returns promptly."""

    def __init__(
        self,
        history: SampleRecorder,
        dsn: Callable[[], str],
        *,
        interval: float = DEFAULT_INTERVAL_S,
        queries: Mapping[str, str | None] | None = None,
        canonical: Callable[[str], str] = str,
    ) -> None:
        self.history = history
        self._dsn = dsn
        self.interval = interval
        q = dict(queries or {})
        #: None: the target cannot be sampled this way (e.g. it answers through an adapter)
        self.items_sql = q.get("sample_items", SAMPLE_ITEMS_SQL)
        self.batches_sql = q.get("sample_batches", SAMPLE_BATCHES_SQL)
        self.canonical = canonical
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._last: dict[str, str] = {}
        self._db_down = False
        self.samples_taken = 0
        self.errors = 0

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> StateSampler:
        self._thread = threading.Thread(target=self._run, name="chaos-audit-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Take a last sample, stop the thread and close its connection (a hung query is abandoned)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            self._close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the loop -----------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            took = self.sample_once()
            # a slow query (many rows, a loaded machine) backs off: the sampler takes at most ~20 % of a
            # core, so it cannot skew what a scenario measures
            self._stop.wait(max(self.interval, 4 * took))
        self.sample_once()  # the state at the end, so every lane reaches the end of the history
        self._close()

    def sample_once(self) -> float:
        """Query once and record the changes; returns how long it took. Never raises."""
        began = time.monotonic()
        dsn = self._dsn()
        if not dsn:
            return 0.0
        try:
            rows, batches = self._query(dsn)
        except Exception as exc:  # a dead, paused or unmigrated database: note it and carry on
            if not _schema_missing(exc):  # before the target migrates, the connection is fine:
                self._close()  # reconnecting every 50 ms until then cost a backend each time
            self.errors += 1
            self._mark_down(exc)
            return time.monotonic() - began
        self._mark_up()
        self.samples_taken += 1
        for item_id, batch_id, seq, status in rows:
            self._record(f"item:{item_id}", self.canonical(str(status)), seq=seq, batch_id=batch_id)
        for batch_id, status in batches:
            self._record(f"batch:{batch_id}", self.canonical(str(status)))
        return time.monotonic() - began

    def _query(self, dsn: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        import psycopg

        if self._conn is None:
            self._conn = psycopg.connect(
                dsn,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="chaos-audit-sampler",
                options="-c statement_timeout=2000",
            )
        params = {"limit": ROW_LIMIT, "batch_id": None, "item_id": None}
        rows = list(self._conn.execute(self.items_sql, params).fetchall()) if self.items_sql else []
        try:
            batches = (
                list(self._conn.execute(self.batches_sql, params).fetchall()) if self.batches_sql else []
            )
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
            batches = []  # a schema without a batches table still has item lanes
        return rows, batches

    def _record(self, entity: str, state: str, **fields: Any) -> None:
        if self._last.get(entity) != state:
            self._last[entity] = state
            self.history.sample(entity, state, **fields)

    def _mark_down(self, exc: BaseException) -> None:
        if not self._db_down and self._last:  # before the schema exists this is just start-up
            self._db_down = True
            self.history.sample("db", "unreachable", error=f"{type(exc).__name__}: {str(exc)[:200]}")

    def _mark_up(self) -> None:
        if self._db_down:
            self._db_down = False
            self.history.sample("db", "reachable")

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail; it is gone anyway
                conn.close()


def _schema_missing(exc: BaseException) -> bool:
    """The query's table or column does not exist (yet): the connection itself is intact."""
    import psycopg

    return isinstance(exc, (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn))
