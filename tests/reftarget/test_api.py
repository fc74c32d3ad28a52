"""The API in-process against a real Postgres (no workers): validation, idempotency, actions."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from reftarget import defects
from reftarget.config import Settings

from tests.reftarget.helpers import LogBuffer, one, rows, wait_for

COUNTS = "SELECT (SELECT count(*) FROM batches) AS batches, (SELECT count(*) FROM items) AS items"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "count"),
        ({"count": 0}, "count"),
        ({"count": 10_001}, "count"),
        ({"count": "5"}, "count"),
        ({"count": 2.5}, "count"),
        ({"count": 2, "items": [{"input": 1}]}, "count"),
        ({"items": []}, "items"),
        ({"items": [{"input": 1}, {"payload": 2}]}, "items.1.payload"),
        ({"count": 2, "priority": "high"}, "priority"),
        ({"count": 2, "source": "ftp"}, "source"),
        ({"count": 2, "deadline_s": -1}, "deadline_s"),
        ({"count": 2, "colour": "red"}, "colour"),
        ({"source": "listing", "count": 3}, "count"),
    ],
)
def test_invalid_payloads_get_422_naming_the_field_and_write_nothing(
    api: Any, db: str, body: Any, field: str
) -> None:
    answer = api.post("/v1/batches", json=body)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["fields"], answer.json()
    assert answer.json()["field"] in answer.json()["fields"]
    assert one(db, COUNTS) == {"batches": 0, "items": 0}


def test_a_body_that_is_not_json_and_a_bad_key_are_422(api: Any, db: str) -> None:
    answer = api.post("/v1/batches", content=b"{nope", headers={"content-type": "application/json"})
    assert (answer.status_code, answer.json()["field"]) == (422, "body")
    answer = api.post("/v1/batches", json={"count": 1}, headers={"Idempotency-Key": "x" * 201})
    assert (answer.status_code, answer.json()["field"]) == (422, "Idempotency-Key")
    assert one(db, COUNTS) == {"batches": 0, "items": 0}


@pytest.mark.parametrize(
    "path", ["/v1/batches/{id}", "/v1/batches/{id}/items", "/v1/batches/{id}/result", "/batches/{id}"]
)
def test_unknown_ids_are_404(api: Any, path: str) -> None:
    assert api.get(path.format(id=uuid.uuid4())).status_code == 404
    assert api.get(path.format(id="not-a-uuid")).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/v1/items/{id}/retry",
        "/v1/batches/{id}/retry-failed",
        "/v1/batches/{id}/cancel",
        "/v1/batches/{id}/recover",
    ],
)
def test_actions_on_unknown_ids_are_404(api: Any, path: str) -> None:
    assert api.post(path.format(id=uuid.uuid4())).status_code == 404


def test_create_answers_202_with_progress_and_echoes_the_correlation_id(
    api: Any, db: str, logs: LogBuffer
) -> None:
    answer = api.post(
        "/v1/batches", json={"count": 3, "priority": 2}, headers={"X-Correlation-Id": "trace-1"}
    )
    assert answer.status_code == 202
    body = answer.json()
    assert (body["status"], body["total"], body["total_items"], body["counts"]["queued"]) == (
        "queued",
        3,
        3,
        3,
    )
    assert set(body["counts"]) == {
        "queued",
        "processing",
        "completed",
        "failed",
        "partial",
        "retrying",
        "cancelled",
        "timeout",
        "dead",
    }
    assert answer.headers["X-Correlation-Id"] == "trace-1"
    assert one(db, "SELECT correlation_id, priority FROM batches") == {
        "correlation_id": "trace-1",
        "priority": 2,
    }
    items = api.get(f"/v1/batches/{body['id']}/items").json()["items"]
    assert [i["seq"] for i in items] == [1, 2, 3]
    assert items[0]["idempotency_key"] == f"{body['id']}:1"
    assert {e["event"] for e in logs.records if e["correlation_id"] == "trace-1"} >= {
        "batch.received",
        "batch.enqueued",
    }
    generated = api.post("/v1/batches", json={"count": 1})
    assert len(generated.headers["X-Correlation-Id"]) == 32


def test_same_key_same_payload_is_the_same_batch_and_another_payload_is_409(api: Any, db: str) -> None:
    first = api.post("/v1/batches", json={"count": 4}, headers={"Idempotency-Key": "k-1"})
    again = api.post("/v1/batches", json={"count": 4}, headers={"Idempotency-Key": "k-1"})
    other = api.post("/v1/batches", json={"count": 5}, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code, other.status_code) == (202, 200, 409)
    assert again.json()["id"] == first.json()["id"] == other.json()["id"]
    assert again.json()["deduplicated"] is True
    assert one(db, COUNTS) == {"batches": 1, "items": 4}


def concurrently(n: int, fn: Any) -> list[Any]:
    results: list[Any] = [None] * n
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_creates_with_one_key_make_exactly_one_batch(api: Any, db: str) -> None:
    answers = concurrently(
        8, lambda: api.post("/v1/batches", json={"count": 20}, headers={"Idempotency-Key": "k"})
    )
    assert sorted(a.status_code for a in answers) == [200] * 7 + [202]
    assert len({a.json()["id"] for a in answers}) == 1
    assert one(db, COUNTS) == {"batches": 1, "items": 20}


def test_identical_payload_without_key_within_the_window_is_deduplicated(
    api: Any, db: str, settings: Settings
) -> None:
    answers = concurrently(4, lambda: api.post("/v1/batches", json={"count": 20}))
    assert len({a.json()["id"] for a in answers}) == 1
    assert one(db, COUNTS) == {"batches": 1, "items": 20}
    rows(
        db,
        "UPDATE batches SET created_at = created_at - make_interval(secs => %s)",
        (settings.dedup_window_s,),
    )
    assert api.post("/v1/batches", json={"count": 20}).status_code == 202  # outside the window: a new batch


def test_no_idempotency_defect_creates_duplicates(api: Any, db: str) -> None:
    defects.activate(["no_idempotency"])
    answers = concurrently(
        3, lambda: api.post("/v1/batches", json={"count": 2}, headers={"Idempotency-Key": "k"})
    )
    assert {a.status_code for a in answers} == {202}
    assert one(db, COUNTS)["batches"] == 3


def fail_items(db: str, batch_id: str, *seqs: int, status: str = "failed") -> None:
    rows(
        db,
        "UPDATE items SET status = CASE WHEN seq = ANY(%s) THEN %s ELSE 'completed' END, "
        "attempts = 3, error_kind = 'provider_5xx', error_status = 500 WHERE batch_id = %s",
        (list(seqs), status, batch_id),
    )
    rows(db, "UPDATE batches SET status = 'partial' WHERE id = %s", (batch_id,))


def test_retry_one_item_and_its_refusals(api: Any, db: str, settings: Settings) -> None:
    bid = api.post("/v1/batches", json={"count": 3}).json()["id"]
    fail_items(db, bid, 2)
    progress = api.get(f"/v1/batches/{bid}").json()
    assert progress["summary"] == (
        f"2/3 items completed; 1 item failed due to provider 500; "
        f"retry with POST /v1/batches/{bid}/retry-failed"
    )
    items = {i["seq"]: i for i in api.get(f"/v1/batches/{bid}/items").json()["items"]}
    retry = api.post(f"/v1/items/{items[2]['id']}/retry")
    assert (retry.status_code == 202 and retry.json()["batch_status"] == "queued") or retry.json()[
        "batch_status"
    ]
    again = api.post(f"/v1/items/{items[2]['id']}/retry")
    assert again.status_code == 409 and "already in progress" in again.json()["detail"]
    done = api.post(f"/v1/items/{items[1]['id']}/retry")
    assert done.status_code == 409 and "completed" in done.json()["detail"]
    item = one(db, "SELECT status, retry_count, max_attempts, attempts FROM items WHERE seq = 2")
    assert item == {
        "status": "queued",
        "retry_count": 1,
        "max_attempts": 3 + settings.max_attempts,
        "attempts": 3,
    }
    rows(db, "UPDATE items SET status = 'failed', retry_count = %s WHERE seq = 2", (settings.retry_limit,))
    limit = api.post(f"/v1/items/{items[2]['id']}/retry")
    assert limit.status_code == 409 and "retry limit reached" in limit.json()["detail"]


def test_concurrent_retries_of_one_item_one_wins(api: Any, db: str) -> None:
    bid = api.post("/v1/batches", json={"count": 2}).json()["id"]
    fail_items(db, bid, 1)
    item = one(db, "SELECT id FROM items WHERE seq = 1")["id"]
    answers = concurrently(6, lambda: api.post(f"/v1/items/{item}/retry"))
    assert sorted(a.status_code for a in answers) == [202] + [409] * 5
    assert one(db, "SELECT retry_count FROM items WHERE seq = 1")["retry_count"] == 1


def test_concurrent_retry_defect_lets_a_second_retry_through(api: Any, db: str) -> None:
    defects.activate(["concurrent_retry"])
    bid = api.post("/v1/batches", json={"count": 2}).json()["id"]
    fail_items(db, bid, 1)
    item = one(db, "SELECT id FROM items WHERE seq = 1")["id"]
    assert api.post(f"/v1/items/{item}/retry").status_code == 202
    assert api.post(f"/v1/items/{item}/retry").status_code == 202  # already queued: let through
    assert one(db, "SELECT retry_count FROM items WHERE seq = 1")["retry_count"] == 2


@pytest.mark.parametrize("flags", [[], ["retry_reprocesses_all"]])
def test_retry_failed_requeues_only_the_failed_items(api: Any, db: str, flags: list[str]) -> None:
    defects.activate(flags)
    bid = api.post("/v1/batches", json={"count": 6}).json()["id"]
    fail_items(db, bid, 2, 4)
    answer = api.post(f"/v1/batches/{bid}/retry-failed")
    assert answer.status_code == 202
    queued = one(db, "SELECT count(*) AS n FROM items WHERE status = 'queued'")["n"]
    assert (answer.json()["retried"], queued) == ((2, 2) if not flags else (6, 6))


def test_cancel_and_recover(api: Any, db: str) -> None:
    bid = api.post("/v1/batches", json={"count": 3}).json()["id"]
    fail_items(db, bid, 3, status="timeout")
    recovered = api.post(f"/v1/batches/{bid}/recover")
    assert recovered.status_code == 202 and recovered.json()["requeued"] == 1
    assert api.get(f"/v1/batches/{bid}").json()["status"] == "processing"
    cancel = api.post(f"/v1/batches/{bid}/cancel")
    assert cancel.status_code == 202 and cancel.json()["cancelled"] == 1
    progress = api.get(f"/v1/batches/{bid}").json()
    assert (progress["status"], progress["counts"]["cancelled"], progress["completed"]) == ("cancelled", 1, 2)
    assert api.post(f"/v1/batches/{bid}/cancel").status_code == 202  # idempotent
    assert api.post(f"/v1/batches/{bid}/recover").status_code == 409
    done = api.post("/v1/batches", json={"count": 1}).json()["id"]
    rows(db, "UPDATE batches SET status = 'completed' WHERE id = %s", (done,))
    assert api.post(f"/v1/batches/{done}/cancel").status_code == 409


def test_recover_under_batch_level_checkpoint_restarts_everything(api: Any, db: str) -> None:
    defects.activate(["batch_level_checkpoint"])
    bid = api.post("/v1/batches", json={"count": 3}).json()["id"]
    fail_items(db, bid, 3)
    assert api.post(f"/v1/batches/{bid}/recover").json()["requeued"] == 3


def test_health_metrics_attention_and_page(api: Any, db: str) -> None:
    health = api.get("/health").json()
    assert health["status"] == "ok" and health["database"] == "ok" and len(health["boot_id"]) == 32
    bid = api.post("/v1/batches", json={"count": 2}).json()["id"]
    metrics = api.get("/metrics").json()
    assert metrics["queue_depth"] == 2 and metrics["items"]["queued"] == 2
    fail_items(db, bid, 1)
    attention = api.get("/v1/admin/attention").json()["batches"]
    assert [a["id"] for a in attention] == [bid]
    assert "1 item(s) failed" in attention[0]["reasons"]
    page = api.get(f"/batches/{bid}")
    assert page.status_code == 200 and 'id="status"' in page.text and f"/v1/batches/{bid}" in page.text


def test_result_long_poll_returns_current_state_when_the_wait_ends(api: Any) -> None:
    bid = api.post("/v1/batches", json={"count": 1}).json()["id"]
    answer = api.get(f"/v1/batches/{bid}/result", params={"wait": 0.3})
    assert answer.status_code == 200 and answer.json()["done"] is False


def test_progress_in_memory_defect_forgets_progress_on_restart(db: str, logs: LogBuffer) -> None:
    defects.activate(["progress_in_memory"])
    from fastapi.testclient import TestClient
    from reftarget.api.app import create_app

    settings = Settings(database_url=db)
    with TestClient(create_app(settings)) as first:
        # the in-memory counter hears only notifications sent after its LISTEN (a thread started
        # with the app: on a busy machine it may not be listening yet when the lifespan returns)
        listening = (
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'reftarget:api-progress' "
            "AND query LIKE 'LISTEN%' AND state = 'idle'"
        )
        wait_for(lambda: rows(db, listening), what="the progress listener listening")
        bid = first.post("/v1/batches", json={"count": 2}).json()["id"]
        rows(db, "UPDATE items SET status = 'completed'")
        wait_for(lambda: first.get(f"/v1/batches/{bid}").json()["completed"] == 2, what="events counted")
    with TestClient(create_app(settings)) as restarted:
        assert restarted.get(f"/v1/batches/{bid}").json()["completed"] == 0  # went backwards
