"""The state sampler against a real PostgreSQL: it records changes only, and survives a dead database."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
import pytest

from harness.history import History
from harness.sampler import StateSampler
from harness.store.postgres import EmbeddedPostgres

SCHEMA = """
CREATE TABLE batches (id uuid PRIMARY KEY, status text NOT NULL, created_at timestamptz DEFAULT now());
CREATE TABLE items (id uuid PRIMARY KEY, batch_id uuid NOT NULL, seq int NOT NULL, status text NOT NULL);
INSERT INTO batches VALUES ('00000000-0000-0000-0000-0000000000b1', 'processing');
INSERT INTO items SELECT ('00000000-0000-0000-0000-00000000000' || s)::uuid,
                         '00000000-0000-0000-0000-0000000000b1', s, 'queued' FROM generate_series(1, 3) s;
"""


def _wait(what: str, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll until ``predicate`` holds; the deadline is only reached when it never does."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _states(history: History, entity: str) -> list[str]:
    return [s.state for s in history.samples() if s.entity == entity]


def test_samples_item_and_batch_changes_once_each(fresh_dsn: str) -> None:
    history = History()
    dsn = ""
    sampler = StateSampler(history, lambda: dsn, interval=0.02).start()
    try:
        time.sleep(0.1)  # no DSN yet (the stack has not started): nothing happens
        assert history.samples() == []
        with psycopg.connect(fresh_dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
            dsn = fresh_dsn
            _wait("first sample", lambda: len(history.samples()) == 4)
            conn.execute("UPDATE items SET status = 'processing' WHERE seq = 2")
            _wait(
                "processing",
                lambda: (
                    _states(history, "item:00000000-0000-0000-0000-000000000002") == ["queued", "processing"]
                ),
            )
            conn.execute("UPDATE items SET status = 'completed' WHERE seq = 2")
            conn.execute("UPDATE batches SET status = 'partial'")
    finally:
        sampler.stop()
    assert not sampler.running
    assert _states(history, "item:00000000-0000-0000-0000-000000000002") == [
        "queued",
        "processing",
        "completed",
    ]
    assert _states(history, "item:00000000-0000-0000-0000-000000000001") == [
        "queued"
    ]  # unchanged: sampled once
    assert _states(history, "batch:00000000-0000-0000-0000-0000000000b1") == ["processing", "partial"]
    first = history.samples()[0]  # items first, then batches
    assert first.fields == {"seq": 1, "batch_id": "00000000-0000-0000-0000-0000000000b1"}
    assert sampler.samples_taken >= 3  # first, "processing", and the last one at stop


def test_a_schema_not_migrated_yet_keeps_its_connection(fresh_dsn: str) -> None:
    """Until the target migrates, every sample fails on a missing table; the connection is fine and is
    kept (a reconnect every 50 ms cost the database a new backend each time)."""
    history = History()
    sampler = StateSampler(history, lambda: fresh_dsn)
    try:
        sampler.sample_once()
        first = sampler._conn
        sampler.sample_once()
        assert sampler.errors == 2 and first is not None and sampler._conn is first
        with psycopg.connect(fresh_dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
        sampler.sample_once()
        assert sampler._conn is first and len(history.samples()) == 4
    finally:
        sampler.stop()


def test_a_database_that_disappears_is_an_outage_not_an_error(embedded_pg: EmbeddedPostgres) -> None:
    embedded_pg.create_database("sampler_gone")
    dsn = embedded_pg.dsn("sampler_gone")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    history = History()
    sampler = StateSampler(history, lambda: dsn, interval=0.02).start()
    try:
        _wait("first sample", lambda: len(history.samples()) == 4)
        embedded_pg.drop_database("sampler_gone")  # FORCE: the sampler's session is cut
        _wait(
            "outage noted",
            lambda: [s.state for s in history.samples() if s.entity == "db"] == ["unreachable"],
        )
        assert sampler.running
    finally:
        began = time.monotonic()
        sampler.stop()
    assert time.monotonic() - began < 2.5 and not sampler.running
    assert sampler.errors >= 1


def test_an_unreachable_server_before_the_schema_records_nothing_and_stops_promptly() -> None:
    history = History()
    sampler = StateSampler(history, lambda: "postgresql://postgres@127.0.0.1:1/none", interval=0.02).start()
    try:
        _wait("two failed samples", lambda: sampler.errors >= 2)  # it keeps trying, records nothing
    finally:
        sampler.stop()
    assert history.samples() == [] and sampler.errors >= 2 and not sampler.running


@pytest.mark.parametrize("query_name", ["sample_items"])
def test_a_target_file_can_override_the_query(fresh_dsn: str, query_name: str) -> None:
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE jobs (job_id text, state text); INSERT INTO jobs VALUES ('j1', 'running')")
    history = History()
    sql = "SELECT job_id, 'batch-x', 1, state FROM jobs"
    sampler = StateSampler(history, lambda: fresh_dsn, interval=0.02, queries={query_name: sql}).start()
    try:
        _wait("custom sample", lambda: bool(history.samples()))
    finally:
        sampler.stop()
    assert [(s.entity, s.state) for s in history.samples()] == [("item:j1", "running")]
