"""The store against a real Postgres: schema, claim order and plan, fencing, transitions, leases."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from reftarget import defects, sql
from reftarget.config import Settings
from reftarget.db import Database, apply_schema, fetchall, fetchone
from reftarget.store import batches as store
from reftarget.store.rollup import recompute
from reftarget.worker.claim import claim

from tests.reftarget.helpers import one, rows


def create(settings: Settings, n: int = 3, **kw: Any) -> Any:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        row, created = store.create(
            conn,
            store.NewBatch(count=n, **kw),
            key=str(uuid.uuid4()),
            correlation_id="cid",
            settings=settings,
        )
        assert created
        return row["id"]


def claim_one(settings: Settings, worker: str = "wa") -> Any:
    db = Database(settings.database_url, actor=worker)
    try:
        claims = db.run(lambda c: claim(c, replace(settings, worker_id=worker)))
    finally:
        db.close()
    return claims[0] if claims else None


def test_every_named_query_parses_and_the_schema_is_idempotent(db: str) -> None:
    assert {"claim_next", "complete_item", "finish_item", "rollup_read", "insert_batch"} <= set(sql.queries())
    with psycopg.connect(db) as conn:
        apply_schema(conn, unlogged_queue=False)
        apply_schema(conn, unlogged_queue=False)
        for name, text in sql.queries().items():
            assert text.strip(), name
    names = {r["tablename"] for r in rows(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"batches", "items", "transitions", "results", "workers"} <= names


def test_in_memory_queue_makes_the_items_table_unlogged_and_back(db: str) -> None:
    persistence = "SELECT relpersistence AS p FROM pg_class WHERE oid = 'items'::regclass"
    assert one(db, persistence)["p"] == "p"
    defects.activate(["in_memory_queue"])
    with psycopg.connect(db) as conn:
        apply_schema(conn, unlogged_queue=defects.enabled("in_memory_queue"))
    assert one(db, persistence)["p"] == "u"
    with psycopg.connect(db) as conn:
        apply_schema(conn, unlogged_queue=False)
    assert one(db, persistence)["p"] == "p"


def test_claim_stays_an_index_scan_with_100k_queued_items(settings: Settings) -> None:
    batch = create(settings, 1)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE items DISABLE TRIGGER items_transition")
        conn.execute(
            "INSERT INTO items (id, batch_id, seq, status, idempotency_key, max_attempts, priority) "
            "SELECT gen_random_uuid(), %s, g, 'queued', 'k' || g, 3, g %% 5 FROM generate_series(2, 100001) g",
            (batch,),
        )
        conn.execute("ALTER TABLE items ENABLE TRIGGER items_transition")
        conn.execute("ANALYZE items")
        select = sql.q("claim_next").split("WITH next AS (")[1].split(")\nUPDATE")[0]
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + select).fetchall())
        assert "Index Scan using items_claim_idx" in plan, plan
        assert "Seq Scan" not in plan and "Sort" not in plan, plan
        full = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN " + sql.q("claim_next"), {"worker_id": "w", "lease_s": 1.0}
            ).fetchall()
        )
        assert "items_claim_idx" in full and "Seq Scan on items" not in full, full
    # The plans above are what keeps the claim cheap; the clock only catches a claim that waits (a lock,
    # a retry), which would run into the database operation timeout, not a slow scan on a busy machine.
    started = time.monotonic()
    first = claim_one(settings)
    assert first.fencing_token == 1 and time.monotonic() - started < settings.db_op_timeout_s


def test_claim_order_is_priority_then_batch_age_then_seq(settings: Settings) -> None:
    low = create(settings, 2)
    high = create(settings, 2, priority=5)
    order = [(c.batch_id, c.seq) for c in (claim_one(settings) for _ in range(4))]
    assert order == [(high, 1), (high, 2), (low, 1), (low, 2)]


def test_no_priority_defect_claims_in_arrival_order(settings: Settings) -> None:
    low = create(settings, 1)
    create(settings, 1, priority=5)
    defects.activate(["no_priority"])
    assert claim_one(settings).batch_id == low


def test_every_claim_bumps_the_fencing_token_and_deliveries(settings: Settings) -> None:
    create(settings, 1)
    c1 = claim_one(settings)
    assert (c1.fencing_token, c1.deliveries, c1.takeover) == (1, 1, False)
    assert claim_one(settings) is None  # held under a live lease
    rows(settings.database_url, "UPDATE items SET lease_expires_at = now() - interval '1 s'")
    c2 = claim_one(settings, "wb")
    assert (c2.item_id, c2.fencing_token, c2.deliveries, c2.takeover) == (c1.item_id, 2, 2, True)
    t = rows(
        settings.database_url,
        "SELECT from_state, to_state, worker_id, fencing_token FROM transitions "
        "WHERE entity = 'item' ORDER BY id",
    )
    assert [(r["from_state"], r["to_state"], r["worker_id"], r["fencing_token"]) for r in t] == [
        (None, "queued", None, 0),
        ("queued", "processing", "wa", 1),
        ("processing", "processing", "wb", 2),
    ]


def fence(c: Any, worker: str, **kw: Any) -> dict[str, Any]:
    return {"id": c.item_id, "fencing_token": c.fencing_token, "worker_id": worker, "check_owner": True, **kw}


def test_a_stale_fencing_token_writes_nothing(settings: Settings) -> None:
    create(settings, 1)
    stale = claim_one(settings, "wa")
    rows(settings.database_url, "UPDATE items SET lease_expires_at = now() - interval '1 s'")
    fresh = claim_one(settings, "wb")
    from psycopg.types.json import Jsonb

    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        assert fetchone(conn, "complete_item", fence(stale, "wa", output=Jsonb({"o": "a"}))) is None
        assert fetchone(conn, "extend_lease", fence(stale, "wa", lease_s=5)) is None
        assert fetchone(conn, "complete_item", fence(fresh, "wb", output=Jsonb({"o": "b"}))) is not None
        unfenced = fence(stale, "wa", output=Jsonb({"o": "a"}), check_owner=False)
        assert fetchone(conn, "complete_item", unfenced) is not None  # what no_fencing does
    assert one(settings.database_url, "SELECT count(*) AS n FROM results")["n"] == 2


def test_dead_letter_after_max_deliveries_without_an_outcome(settings: Settings, logs: Any) -> None:
    create(settings, 1)
    claim_one(settings)
    rows(
        settings.database_url,
        "UPDATE items SET unfinished_deliveries = 3, lease_expires_at = now() - interval '1 s'",
    )
    assert claim_one(settings) is None
    item = one(settings.database_url, "SELECT status, error_kind FROM items")
    assert (item["status"], item["error_kind"]) == ("dead", "dead_letter")
    assert one(settings.database_url, "SELECT status FROM batches")["status"] == "failed"
    assert logs.events("item.dead_lettered")
    defects.activate(["no_dead_letter"])
    create(settings, 1)
    claim_one(settings)
    rows(
        settings.database_url,
        "UPDATE items SET unfinished_deliveries = 9, "
        "lease_expires_at = now() - interval '1 s' WHERE status = 'processing'",
    )
    assert claim_one(settings).takeover


def test_no_lease_expiry_defect_never_takes_over(settings: Settings) -> None:
    create(settings, 1)
    claim_one(settings)
    rows(settings.database_url, "UPDATE items SET lease_expires_at = now() - interval '1 s'")
    defects.activate(["no_lease_expiry"])
    assert claim_one(settings) is None


def test_unbounded_prefetch_claims_everything(settings: Settings) -> None:
    create(settings, 5)
    defects.activate(["unbounded_prefetch"])
    db = Database(settings.database_url, actor="w")
    assert len(db.run(lambda c: claim(c, settings))) == 5
    db.close()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], "partial"),
        (["partial_reported_as_failed"], "failed"),
        (["completed_with_failed_items"], "completed"),
    ],
)
def test_rollup_with_a_failed_item(settings: Settings, flags: list[str], expected: str) -> None:
    batch = create(settings, 2)
    rows(
        settings.database_url,
        "UPDATE items SET status = CASE WHEN seq = 1 THEN 'completed' ELSE 'failed' END",
    )
    defects.activate(flags)
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        result = recompute(conn, batch, settings)
    assert result is not None and result.status == expected
    assert one(settings.database_url, "SELECT status FROM batches")["status"] == expected


def test_early_stop_cancels_what_is_not_started_when_most_items_failed(settings: Settings) -> None:
    batch = create(settings, 10)
    rows(settings.database_url, "UPDATE items SET status = 'failed' WHERE seq <= 6")
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        result = recompute(conn, batch, settings)
    assert result is not None and result.stopped_early and result.status == "failed"
    b = one(settings.database_url, "SELECT status, status_reason FROM batches")
    assert b["status_reason"].startswith("stopped early: 6 of 10 items failed")
    assert one(settings.database_url, "SELECT count(*) AS n FROM items WHERE status = 'cancelled'")["n"] == 4


def test_transitions_are_written_by_the_database_for_every_state_change(settings: Settings) -> None:
    batch = create(settings, 2)
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        fetchall(conn, "cancel_items", {"batch_id": batch, "reason": "test"})
        fetchone(conn, "cancel_batch", {"id": batch, "reason": "test"})
    t = rows(
        settings.database_url, "SELECT entity, from_state, to_state, reason FROM transitions ORDER BY id"
    )
    assert [(r["entity"], r["from_state"], r["to_state"]) for r in t] == [
        ("batch", None, "queued"),
        ("item", None, "queued"),
        ("item", None, "queued"),
        ("item", "queued", "cancelled"),
        ("item", "queued", "cancelled"),
        ("batch", "queued", "cancelled"),
    ]
    assert t[-1]["reason"] == "test"
