"""Each SQL invariant proven on literal table contents in a real PostgreSQL: one violating, one not."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from harness.checkers import Validity
from harness.checkers.sql import IMPOSSIBLE_STATES, SqlInvariants, default_queries

CANONICAL_DDL = """
CREATE TABLE batches (id uuid PRIMARY KEY, status text NOT NULL);
CREATE TABLE items (
  id uuid PRIMARY KEY, batch_id uuid NOT NULL, seq int NOT NULL, status text NOT NULL, output jsonb,
  attempts int NOT NULL DEFAULT 0, max_attempts int NOT NULL DEFAULT 3, retry_count int NOT NULL DEFAULT 0, deliveries int NOT NULL DEFAULT 0,
  worker_id text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE transitions (id bigserial PRIMARY KEY, entity text, entity_id uuid, batch_id uuid,
  from_state text, to_state text, reason text, worker_id text, at timestamptz DEFAULT clock_timestamp());
CREATE TABLE workers (id text PRIMARY KEY, last_heartbeat timestamptz);
CREATE TABLE results (id bigserial PRIMARY KEY, item_id uuid, batch_id uuid, worker_id text, output jsonb);
"""
B = "00000000-0000-0000-0000-0000000000b1"
I1 = "00000000-0000-0000-0000-000000000001"
I2 = "00000000-0000-0000-0000-000000000002"
PARAMS = {"max_duration_s": 60, "heartbeat_grace_s": 5, "max_attempts": 3, "max_deliveries": 3}


@pytest.fixture
def db(fresh_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(CANONICAL_DDL)
        yield conn


def healthy(conn: psycopg.Connection) -> None:
    """A completed batch of two items, each completed once by a live worker."""
    conn.execute("INSERT INTO workers VALUES ('w1', now())")
    conn.execute("INSERT INTO batches VALUES (%s, 'completed')", (B,))
    for n, item in enumerate((I1, I2), 1):
        conn.execute(
            "INSERT INTO items (id, batch_id, seq, status, output, attempts, deliveries, worker_id)"
            " VALUES (%s, %s, %s, 'completed', '\"ok\"', 1, 1, 'w1')",
            (item, B, n),
        )
        conn.execute(
            "INSERT INTO results (item_id, batch_id, worker_id, output) VALUES (%s, %s, 'w1', '1')", (item, B)
        )
        for a, b in (("queued", "processing"), ("processing", "completed")):
            conn.execute(
                "INSERT INTO transitions (entity, entity_id, batch_id, from_state, to_state) VALUES ('item',%s,%s,%s,%s)",
                (item, B, a, b),
            )


def check(conn: psycopg.Connection, dsn: str, name: str) -> Validity:
    return SqlInvariants(dsn, params=PARAMS).check(name).valid


def dsn_of(conn: psycopg.Connection) -> str:
    info = conn.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


def test_a_healthy_database_passes_every_invariant(db: psycopg.Connection) -> None:
    healthy(db)
    inv = SqlInvariants(dsn_of(db), params=PARAMS)
    results = {n: inv.check(n) for n in default_queries()}
    assert {n: r.valid for n, r in results.items()} == {n: Validity.TRUE for n in default_queries()}, {
        n: r.summary() for n, r in results.items()
    }


VIOLATIONS = {
    "stuck_processing": "UPDATE items SET status='processing', updated_at = now() - interval '2 hours' WHERE seq = 1",
    "stuck_batches": "UPDATE batches SET status='processing'; UPDATE items SET updated_at = now() - interval '2 hours'",
    "completed_without_output": "DELETE FROM results WHERE item_id = '" + I1 + "'",
    "processing_with_dead_worker": "UPDATE items SET status='processing', worker_id='gone' WHERE seq = 2",
    "completed_batch_with_failed_items": "UPDATE items SET status='failed' WHERE seq = 2",
    "duplicate_outputs": "INSERT INTO results (item_id, batch_id, worker_id) VALUES ('"
    + I1
    + "', '"
    + B
    + "', 'w2')",
    "completed_twice": "INSERT INTO transitions (entity, entity_id, batch_id, from_state, to_state)"
    " VALUES ('item', '" + I1 + "', '" + B + "', 'processing', 'completed')",
    "illegal_transitions": "INSERT INTO transitions (entity, entity_id, batch_id, from_state, to_state)"
    " VALUES ('item', '" + I1 + "', '" + B + "', 'completed', 'processing')",
    "attempts_over_limit": "UPDATE items SET attempts = 7 WHERE seq = 1",
    "deliveries_over_limit": "UPDATE items SET deliveries = 9, status = 'queued' WHERE seq = 1",
    "batch_rollup_mismatch": "UPDATE items SET status='failed' WHERE seq = 2; UPDATE batches SET status='failed'",
}


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_each_invariant_catches_its_literal_violation(db: psycopg.Connection, name: str) -> None:
    healthy(db)
    for stmt in VIOLATIONS[name].split("; "):
        db.execute(stmt)
    result = SqlInvariants(dsn_of(db), params=PARAMS).check(name)
    assert result.valid is Validity.FALSE, result.summary()
    assert result.violations[0].count >= 1


def test_every_invariant_has_a_violation_test() -> None:
    assert set(VIOLATIONS) == set(default_queries())
    assert set(IMPOSSIBLE_STATES) <= set(default_queries())


def test_an_override_replaces_a_query_by_name(db: psycopg.Connection) -> None:
    healthy(db)
    inv = SqlInvariants(dsn_of(db), params=PARAMS, overrides={"duplicate_outputs": "SELECT 1 AS always"})
    assert inv.check("duplicate_outputs").valid is Validity.FALSE


def test_a_broken_query_is_unknown(db: psycopg.Connection) -> None:
    inv = SqlInvariants(
        dsn_of(db), params=PARAMS, overrides={"stuck_processing": "SELECT * FROM no_such_table"}
    )
    result = inv.check("stuck_processing")
    assert result.valid is Validity.UNKNOWN and "no_such_table" in (result.error or "")
