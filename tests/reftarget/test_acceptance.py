"""Acceptance: real processes (API, workers) killed with real signals, checked against the ledger."""

from __future__ import annotations

import signal
import time
from collections import Counter
from typing import Any

import httpx
from reftarget.config import Settings

from tests.reftarget.helpers import Services, api_server, create_batch, items_of, one, rows, wait_batch


def generate_calls(provider: Any) -> list[Any]:
    return [e for e in provider.ledger() if e.kind == "generate"]


def test_20_items_with_two_worker_processes_each_called_once(
    procs: Services, provider: Any, settings: Settings
) -> None:
    provider.configure(default_delay_ms=20)
    procs.worker("worker-1")
    procs.worker("worker-2")
    with api_server(settings) as url:
        answer = httpx.post(f"{url}/v1/batches", json={"count": 20}, headers={"Idempotency-Key": "acc-1"})
        assert answer.status_code == 202
        bid = answer.json()["id"]
        assert wait_batch(settings.database_url, bid, timeout=30)["status"] == "completed"
        progress = httpx.get(f"{url}/v1/batches/{bid}").json()
    assert (progress["status"], progress["completed"], progress["total"]) == ("completed", 20, 20)
    ledger = generate_calls(provider)
    assert sorted(Counter(e.item_id for e in ledger).values()) == [1] * 20
    assert {e.correlation_id for e in ledger} == {answer.headers["X-Correlation-Id"]}
    by_worker = Counter(r["worker_id"] for r in rows(settings.database_url, "SELECT worker_id FROM results"))
    assert set(by_worker) == {"worker-1", "worker-2"}, by_worker
    assert one(settings.database_url, "SELECT count(*) AS n FROM results")["n"] == 20


def test_a_worker_killed_mid_item_is_taken_over_after_the_lease(
    procs: Services, provider: Any, settings: Settings
) -> None:
    bid = create_batch(settings, 5, start_delay_s=0.3)
    third = items_of(settings.database_url, bid)[3]
    with provider.barrier(str(third["id"])) as gate:
        procs.worker("worker-1")
        gate.wait(timeout=15)
        procs.kill("worker-1")  # SIGKILL inside item 3's call
        killed = time.monotonic()
    held = one(settings.database_url, "SELECT status, worker_id FROM items WHERE id = %s", (third["id"],))
    assert held == {"status": "processing", "worker_id": "worker-1"}
    procs.worker("worker-2")
    assert wait_batch(settings.database_url, bid, timeout=30)["status"] == "completed"
    item = one(settings.database_url, "SELECT * FROM items WHERE id = %s", (third["id"],))
    assert (item["worker_id"], item["fencing_token"], item["deliveries"]) == ("worker-2", 2, 2)
    taken = [e for e in procs.events("worker-2", "item.taken_over") if e["item_id"] == str(third["id"])]
    assert taken and taken[0]["ts"] - (time.time() - (time.monotonic() - killed)) >= settings.lease_s * 0.5
    calls = [e for e in generate_calls(provider) if e.item_id == str(third["id"])]
    assert len(calls) == 2 and len({e.idempotency_key for e in calls}) == 1  # repeated, same key
    assert (
        one(settings.database_url, "SELECT count(*) AS n FROM results WHERE item_id = %s", (third["id"],))[
            "n"
        ]
        == 1
    )
    done = [e.item_id for e in generate_calls(provider) if e.outcome == "ok"]
    assert sorted(Counter(done).values()) == [1] * 5


def test_sigterm_stops_a_worker_cleanly_even_inside_a_call(
    procs: Services, provider: Any, settings: Settings
) -> None:
    bid = create_batch(settings, 2)
    with provider.barrier(nth=1) as gate:
        worker = procs.worker("worker-1")
        gate.wait(timeout=15)
        procs.signal("worker-1", signal.SIGTERM)
        assert worker.wait(10) == 0
    # the blocked call was interrupted by the signal, not ended by its read timeout
    assert not [e for e in procs.events("worker-1", "provider.call") if e.get("error_kind") == "timeout"]
    assert procs.events("worker-1", "item.released")
    item = one(settings.database_url, "SELECT status FROM items WHERE batch_id = %s AND seq = 1", (bid,))
    assert item["status"] == "queued"
    assert procs.events("worker-1", "worker.stopped")


def test_api_process_logs_the_flow_exits_cleanly_and_restarts(
    procs: Services, provider: Any, settings: Settings
) -> None:
    url = procs.api("api")
    procs.worker("worker-1")
    answer = httpx.post(f"{url}/v1/batches", json={"count": 2}, headers={"X-Correlation-Id": "flow-1"})
    bid = answer.json()["id"]
    assert wait_batch(settings.database_url, bid, timeout=30)["status"] == "completed"
    boot = httpx.get(f"{url}/health").json()["boot_id"]
    procs.signal("api", signal.SIGTERM)
    assert procs.procs["api"].wait(10) == 0

    # the flow, rebuilt from the correlation id alone (TEST-RR-O02)
    events = [
        e for name in ("api", "worker-1") for e in procs.events(name) if e.get("correlation_id") == "flow-1"
    ]
    names = [e["event"] for e in sorted(events, key=lambda e: e["ts"])]
    for expected in (
        "batch.received",
        "batch.enqueued",
        "item.claimed",
        "provider.call",
        "item.stored",
        "item.completed",
        "batch.completed",
    ):
        assert expected in names, (expected, names)
    assert names.index("batch.received") < names.index("item.claimed") < names.index("batch.completed")
    call = next(e for e in events if e["event"] == "provider.call")
    assert call["status"] == 200 and call["duration_ms"] >= 0 and call["service"] == "worker"
    assert {e.correlation_id for e in generate_calls(provider)} == {"flow-1"}

    # a new API process: new boot id, same progress (it lives in the database)
    url2 = procs.api("api-2")
    health = httpx.get(f"{url2}/health").json()
    assert health["boot_id"] != boot and health["status"] == "ok"
    progress = httpx.get(f"{url2}/v1/batches/{bid}").json()
    assert (progress["status"], progress["completed"]) == ("completed", 2)
