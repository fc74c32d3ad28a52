"""Defects that need a real socket or a real crash: client disconnects, Postgres SIGKILL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import psycopg
import pytest
from reftarget import defects
from reftarget.config import Settings
from reftarget.db import CONNECTION_ERRORS, apply_schema, connect_kwargs

from tests.reftarget.helpers import (
    LogBuffer,
    WorkerThreads,
    api_server,
    create_batch,
    one,
    wait_batch,
    wait_for,
)


@pytest.mark.parametrize("defect", [False, True])
def test_client_disconnect_during_create(
    settings: Settings, provider: Any, workers: WorkerThreads, logs: LogBuffer, defect: bool
) -> None:
    """TEST-RR-001: the client goes away after ~3 items; the work must go on without it."""
    if defect:
        defects.activate(["cancel_on_disconnect"])
    provider.configure(default_delay_ms=60)
    workers.start(1)
    with api_server(settings) as url, httpx.Client(base_url=url, timeout=5) as client:
        with client.stream("POST", "/v1/batches", json={"count": 10}) as answer:
            lines = answer.iter_lines()
            bid = json.loads(next(lines))["id"]
            if defect:
                for _ in range(3):
                    next(lines)  # progress lines: the work runs inside this request
        # the connection is closed here: the client "reloaded the page"
        if defect:
            with pytest.raises(AssertionError):
                wait_batch(settings.database_url, bid, timeout=1.5)
            progress = client.get(f"/v1/batches/{bid}").json()
            assert progress["status"] == "processing" and 3 <= progress["completed"] < 10
        else:
            assert wait_batch(settings.database_url, bid)["status"] == "completed"


@pytest.mark.parametrize("defect", [False, True])
def test_client_giving_up_on_the_result_long_poll(
    settings: Settings, provider: Any, workers: WorkerThreads, logs: LogBuffer, defect: bool
) -> None:
    """TEST-RR-003: a very short client timeout must not fail a job the server completes."""
    if defect:
        defects.activate(["fail_on_client_disconnect"])
    provider.configure(default_delay_ms=50)
    bid = create_batch(settings, 6)
    with api_server(settings) as url:
        # the worker is held inside item 3 while the client gives up: the batch cannot be done
        # before the client's timeout, however slow the machine (a barrier, not a race)
        with provider.barrier(nth=3) as held:
            workers.start(1)
            held.wait(timeout=30)
            with pytest.raises(httpx.TimeoutException):
                httpx.get(f"{url}/v1/batches/{bid}/result", params={"wait": 10}, timeout=0.2)
        final = wait_batch(settings.database_url, bid)["status"]
        assert final == ("failed" if defect else "completed")
        if not defect:
            result = httpx.get(f"{url}/v1/batches/{bid}/result", params={"wait": 5}).json()
            assert result["done"] and len(result["items"]) == 6
            assert all(i["output"] for i in result["items"])


def test_no_correlation_id_defect_neither_echoes_nor_stores(settings: Settings, logs: LogBuffer) -> None:
    defects.activate(["no_correlation_id"])
    with api_server(settings) as url:
        answer = httpx.post(f"{url}/v1/batches", json={"count": 1}, headers={"X-Correlation-Id": "c-1"})
    assert "X-Correlation-Id" not in answer.headers
    assert one(settings.database_url, "SELECT correlation_id FROM batches")["correlation_id"] is None
    assert all(r["correlation_id"] is None for r in logs.events())


@pytest.mark.parametrize("defect", [False, True])
def test_queued_items_survive_a_postgres_crash(embedded_pg: Any, settings: Settings, defect: bool) -> None:
    """TEST-RR-Q01: SIGKILL Postgres with jobs queued; after restart every job still exists."""
    defects.activate(["in_memory_queue"] if defect else [])
    with psycopg.connect(settings.database_url) as conn:
        apply_schema(conn, unlogged_queue=defects.enabled("in_memory_queue"))
    bid = create_batch(settings, 20)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    embedded_pg.kill()
    embedded_pg.start()
    items = one(settings.database_url, "SELECT count(*) AS n FROM items WHERE batch_id = %s", (bid,))["n"]
    assert items == (0 if defect else 20)
    assert one(settings.database_url, "SELECT total_items FROM batches")["total_items"] == 20


def test_a_process_stopped_inside_a_transaction_does_not_keep_its_row_locks(db: str) -> None:
    """A worker stopped (SIGSTOP) between two statements of its heartbeat held the item's row lock
    for as long as it stayed stopped: its lease expired, but ``SKIP LOCKED`` take-over never saw
    the item (TEST-RR-S02 once timed out on the correct target that way). The server now ends such
    a session after the connection's operation timeout."""
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute("CREATE TABLE IF NOT EXISTS lock_probe (id int PRIMARY KEY)")
        admin.execute("INSERT INTO lock_probe VALUES (1) ON CONFLICT DO NOTHING")
    stopped = psycopg.connect(db, **connect_kwargs("stopped", connect_timeout=1.0))
    try:
        stopped.execute("SELECT id FROM lock_probe WHERE id = 1 FOR UPDATE")  # then goes silent
        with psycopg.connect(db, autocommit=True) as taker:
            query = "SELECT id FROM lock_probe FOR UPDATE SKIP LOCKED"
            assert taker.execute(query).fetchall() == []  # locked while the session lives
            seen = wait_for(lambda: taker.execute(query).fetchall(), what="the row unlocked", timeout=15)
        assert seen == [(1,)]
        with pytest.raises(CONNECTION_ERRORS):  # the server ended the stopped session
            stopped.execute("SELECT 1")
    finally:
        stopped.close()
