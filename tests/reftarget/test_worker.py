"""Workers in-process (threads) against real Postgres and the real mock provider."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from reftarget import defects
from reftarget.config import Settings
from reftarget.worker.loop import Worker

from harness.faults.provider.model import Outcome
from tests.reftarget.helpers import (
    LogBuffer,
    WorkerThreads,
    create_batch,
    items_of,
    one,
    rows,
    wait_batch,
    wait_for,
)


def calls(provider: Any) -> list[Any]:
    return [e for e in provider.ledger() if e.kind == "generate"]


def test_a_batch_completes_with_each_item_called_once(
    settings: Settings, provider: Any, workers: WorkerThreads, logs: LogBuffer
) -> None:
    bid = create_batch(settings, 10)
    workers.start(2)
    assert wait_batch(settings.database_url, bid)["status"] == "completed"
    ledger = calls(provider)
    assert sorted(Counter(e.item_id for e in ledger).values()) == [1] * 10
    items = items_of(settings.database_url, bid)
    assert all(
        i["status"] == "completed" and i["attempts"] == 1 and i["output"]["output"] for i in items.values()
    )
    assert {e.idempotency_key for e in ledger} == {i["idempotency_key"] for i in items.values()}
    assert {e.correlation_id for e in ledger} == {"cid-test"}
    assert one(settings.database_url, "SELECT count(*) AS n FROM results")["n"] == 10
    flow = {r["event"] for r in logs.events() if r["correlation_id"] == "cid-test"}
    assert {"item.claimed", "provider.call", "item.stored", "item.completed", "batch.completed"} <= flow


def test_a_rejected_item_fails_alone_and_its_retry_completes_the_batch(
    settings: Settings, provider: Any, workers: WorkerThreads, api: Any
) -> None:
    bid = create_batch(settings, 6, start_delay_s=0.3)
    seven = items_of(settings.database_url, bid)[3]
    provider.add_rule(str(seven["id"]), status=422)
    workers.start(1)
    assert wait_batch(settings.database_url, bid)["status"] == "partial"
    item = items_of(settings.database_url, bid)[3]
    assert (item["status"], item["error_kind"], item["error_status"], item["attempts"]) == (
        "failed",
        "provider_4xx",
        422,
        1,
    )
    assert "422" in api.get(f"/v1/batches/{bid}").json()["summary"]
    provider.clear_rules()
    before = len(calls(provider))
    assert api.post(f"/v1/items/{item['id']}/retry").status_code == 202
    assert wait_batch(settings.database_url, bid)["status"] == "completed"
    retried = calls(provider)[before:]
    assert [e.item_id for e in retried] == [str(item["id"])]
    assert retried[0].idempotency_key == item["idempotency_key"]
    assert (
        one(settings.database_url, "SELECT retry_count FROM items WHERE id = %s", (item["id"],))[
            "retry_count"
        ]
        == 1
    )


def test_transient_5xx_is_retried_with_backoff_then_succeeds(
    settings: Settings, provider: Any, workers: WorkerThreads, logs: LogBuffer
) -> None:
    bid = create_batch(settings, 1, start_delay_s=0.2)
    item = items_of(settings.database_url, bid)[1]
    provider.add_rule(str(item["id"]), times=2, status=503)
    workers.start(1)
    assert wait_batch(settings.database_url, bid)["status"] == "completed"
    assert one(settings.database_url, "SELECT attempts FROM items")["attempts"] == 3
    states = [
        r["to_state"]
        for r in rows(
            settings.database_url, "SELECT to_state FROM transitions WHERE entity = 'item' ORDER BY id"
        )
    ]
    assert states == ["queued", "processing", "retrying", "processing", "retrying", "processing", "completed"]
    assert [e.attempt_header for e in calls(provider)] == [1, 2, 3]
    retrying = logs.events("item.retrying")
    assert retrying[0]["error_kind"] == "provider_5xx" and retrying[0]["error_status"] == 503
    assert retrying[0]["response_excerpt"]


def test_exhausted_retries_fail_with_the_specific_error(
    settings: Settings, provider: Any, workers: WorkerThreads
) -> None:
    bid = create_batch(settings, 3, start_delay_s=0.2)
    item = items_of(settings.database_url, bid)[2]
    provider.add_rule(str(item["id"]), status=500)
    workers.start(1)
    assert wait_batch(settings.database_url, bid)["status"] == "partial"
    got = items_of(settings.database_url, bid)[2]
    assert (got["status"], got["error_kind"], got["error_status"], got["attempts"]) == (
        "failed",
        "provider_5xx",
        500,
        settings.max_attempts,
    )


def test_generic_errors_defect_loses_the_diagnosis(
    settings: Settings, provider: Any, workers: WorkerThreads, logs: LogBuffer
) -> None:
    defects.activate(["generic_errors"])
    bid = create_batch(settings, 1, start_delay_s=0.2)
    provider.add_rule(str(items_of(settings.database_url, bid)[1]["id"]), status=422)
    workers.start(1)
    wait_batch(settings.database_url, bid)
    got = items_of(settings.database_url, bid)[1]
    assert (got["error_kind"], got["error_status"], got["error_message"]) == ("error", None, "Unknown error")
    assert "provider_4xx" not in str(logs.events("item.failed"))


def test_malformed_response_fails_that_item_and_the_rest_continue(
    settings: Settings, provider: Any, workers: WorkerThreads
) -> None:
    bid = create_batch(settings, 6, start_delay_s=0.2)
    provider.add_rule(str(items_of(settings.database_url, bid)[2]["id"]), malformed=True)
    workers.start(1)
    assert wait_batch(settings.database_url, bid)["status"] == "partial"
    items = items_of(settings.database_url, bid)
    assert items[2]["error_kind"] == "malformed" and items[2]["error_excerpt"]
    assert [i["status"] for s, i in items.items() if s != 2] == ["completed"] * 5


def test_no_item_isolation_defect_aborts_the_batch(
    settings: Settings, provider: Any, workers: WorkerThreads
) -> None:
    defects.activate(["no_item_isolation"])
    bid = create_batch(settings, 6, start_delay_s=0.2)
    provider.add_rule(str(items_of(settings.database_url, bid)[2]["id"]), malformed=True)
    workers.start(1)
    wait_batch(settings.database_url, bid)
    assert Counter(i["status"] for i in items_of(settings.database_url, bid).values())["completed"] == 1
    assert len(calls(provider)) == 2


def test_circuit_breaker_pauses_then_resumes_on_its_own(
    settings: Settings, provider: Any, workers: WorkerThreads, api: Any
) -> None:
    settings = replace(settings, max_attempts=6)  # no item exhausts its attempts before the breaker opens
    bid = create_batch(settings, 12)
    provider.configure(default_delay_ms=10)
    down = provider.add_rule(status=500)  # the provider is down
    workers.settings = settings
    workers.start(2)
    wait_for(lambda: api.get(f"/v1/batches/{bid}").json()["paused"], what="paused")
    progress = api.get(f"/v1/batches/{bid}").json()
    assert progress["status_reason"] == "paused: provider unavailable"
    time.sleep(settings.breaker_cooldown_s * 3)  # failed probes re-open it; still paused:
    assert api.get(f"/v1/batches/{bid}").json()["paused"] is True
    during = calls(provider)
    attempted = {e.item_id for e in during}
    assert len(attempted) <= settings.breaker_threshold + 1, "items were attempted while the breaker was open"
    assert one(settings.database_url, "SELECT state FROM circuits")["state"] in ("open", "half_open")
    assert "paused" in {w["state"] for w in api.get("/metrics").json()["workers"]}  # one may be probing
    provider.remove_rule(down)
    assert wait_batch(settings.database_url, bid)["status"] == "completed"
    assert api.get(f"/v1/batches/{bid}").json()["paused"] is False
    assert one(settings.database_url, "SELECT count(*) AS n FROM items WHERE status = 'completed'")["n"] == 12


def test_no_circuit_breaker_defect_keeps_calling(
    settings: Settings, provider: Any, workers: WorkerThreads
) -> None:
    defects.activate(["no_circuit_breaker"])
    bid = create_batch(settings, 8)
    provider.add_rule(status=500)
    workers.start(1)
    wait_batch(settings.database_url, bid)
    assert len({e.item_id for e in calls(provider)}) > settings.breaker_threshold + 1  # until the early stop


def test_a_hanging_provider_times_out_within_twice_the_timeout(
    settings: Settings, provider: Any, workers: WorkerThreads, logs: LogBuffer
) -> None:
    bid = create_batch(settings, 1, start_delay_s=0.2)
    provider.add_rule(str(items_of(settings.database_url, bid)[1]["id"]), times=1, hang=True)
    workers.start(1)
    assert wait_batch(settings.database_url, bid)["status"] == "completed"
    first = logs.events("provider.call")[0]
    assert first["error_kind"] == "timeout" and first["duration_ms"] < 2000 * settings.provider_timeout_s
    assert calls(provider)[0].outcome in ("aborted", "hang")


def test_a_trickling_response_is_stopped_by_the_batch_deadline(
    settings: Settings, provider: Any, workers: WorkerThreads, logs: LogBuffer
) -> None:
    bid = create_batch(settings, 4, deadline_s=1.5, start_delay_s=0.2)
    provider.add_rule(str(items_of(settings.database_url, bid)[3]["id"]), trickle_ms=50)
    workers.start(1)
    started = time.monotonic()
    batch = wait_batch(settings.database_url, bid)
    # ended by its 1.5 s deadline mid-trickle (a trickle never ends by itself): room for a loaded machine
    assert batch["status"] == "timeout" and time.monotonic() - started < 10
    items = items_of(settings.database_url, bid)
    assert [items[s]["status"] for s in (1, 2, 3, 4)] == ["completed", "completed", "timeout", "timeout"]
    alert = logs.events("batch.deadline_exceeded")
    assert alert and alert[0]["level"] == "error" and alert[0]["batch_id"] == bid


def test_no_timeout_state_defect_reports_failed(
    settings: Settings, provider: Any, workers: WorkerThreads
) -> None:
    defects.activate(["no_timeout_state"])
    bid = create_batch(settings, 2, deadline_s=0.6, start_delay_s=0.1)
    provider.add_rule(str(items_of(settings.database_url, bid)[1]["id"]), trickle_ms=50)
    workers.start(1)
    assert wait_batch(settings.database_url, bid)["status"] == "failed"


def test_no_job_timeout_defect_lets_a_trickle_run_past_the_deadline(
    settings: Settings, provider: Any, workers: WorkerThreads
) -> None:
    defects.activate(["no_job_timeout"])
    bid = create_batch(settings, 1, deadline_s=0.3, start_delay_s=0.1)
    provider.add_rule(str(items_of(settings.database_url, bid)[1]["id"]), trickle_ms=50)
    workers.start(1)
    # the trickle is under way (observed at the provider), then the 0.3 s deadline passes many times over
    wait_for(
        lambda: [e for e in calls(provider) if e.outcome == Outcome.TRICKLE], timeout=60, what="the trickle"
    )
    time.sleep(1.2)
    assert one(settings.database_url, "SELECT status FROM batches")["status"] == "processing"
    provider.reset()  # ends the trickle so the worker can stop


def test_a_dead_workers_item_is_taken_over_after_the_lease(
    settings: Settings, provider: Any, workers: WorkerThreads, logs: LogBuffer
) -> None:
    bid = create_batch(settings, 2)
    rows(
        settings.database_url,
        "UPDATE items SET status = 'processing', worker_id = 'ghost', fencing_token = 1, "
        "deliveries = 1, unfinished_deliveries = 1, attempts = 1, lease_expires_at = now() + interval '0.3 s' "
        "WHERE seq = 1",
    )
    workers.start(1)
    assert wait_batch(settings.database_url, bid)["status"] == "completed"
    item = items_of(settings.database_url, bid)[1]
    assert (item["fencing_token"], item["deliveries"], item["worker_id"]) == (2, 2, "w1")
    assert logs.events("item.taken_over")


def test_wrong_state_after_crash_defect_completes_without_output(
    settings: Settings, provider: Any, workers: WorkerThreads
) -> None:
    defects.activate(["wrong_state_after_crash"])
    bid = create_batch(settings, 1)
    rows(
        settings.database_url,
        "UPDATE items SET status = 'processing', worker_id = 'ghost', attempts = 1, "
        "lease_expires_at = now() - interval '1 s'",
    )
    workers.start(1)
    wait_batch(settings.database_url, bid)
    assert items_of(settings.database_url, bid)[1]["output"] is None
    assert calls(provider) == []


def test_batch_level_checkpoint_defect_restarts_from_item_1(
    settings: Settings, provider: Any, workers: WorkerThreads
) -> None:
    defects.activate(["batch_level_checkpoint"])
    bid = create_batch(settings, 3)
    rows(settings.database_url, "UPDATE items SET status = 'completed' WHERE seq = 1")
    rows(
        settings.database_url,
        "UPDATE items SET status = 'processing', worker_id = 'ghost', "
        "lease_expires_at = now() - interval '1 s' WHERE seq = 2",
    )
    workers.start(1)
    wait_batch(settings.database_url, bid)
    assert len(calls(provider)) == 3  # item 1 called again


def test_cancel_stops_the_item_in_flight(
    settings: Settings, provider: Any, workers: WorkerThreads, api: Any, logs: LogBuffer
) -> None:
    bid = create_batch(settings, 3)
    provider.configure(default_delay_ms=2000)
    with provider.barrier(nth=1) as gate:
        workers.start(1)
        gate.wait(timeout=5)
        assert api.post(f"/v1/batches/{bid}/cancel").status_code == 202
    wait_for(lambda: logs.events("item.cancelled"), what="the worker noticed", timeout=5)
    assert len(calls(provider)) == 1
    assert {i["status"] for i in items_of(settings.database_url, bid).values()} == {"cancelled"}


def test_sigterm_style_stop_hands_the_item_back(
    settings: Settings, provider: Any, workers: WorkerThreads
) -> None:
    bid = create_batch(settings, 1)
    with provider.barrier(nth=1) as gate:
        (worker,) = workers.start(1)
        gate.wait(timeout=5)
        started = time.monotonic()
        workers.stop(worker)
        assert time.monotonic() - started < 2 * settings.provider_timeout_s + 1
    item = items_of(settings.database_url, bid)[1]
    assert (item["status"], item["status_reason"]) == ("queued", "released: worker shutdown")
    assert one(settings.database_url, "SELECT state FROM workers")["state"] == "stopped"


@pytest.mark.parametrize(("never_ending", "flags"), [(False, []), (True, [])])
def test_listing_batches_are_bounded(
    settings: Settings,
    provider: Any,
    workers: WorkerThreads,
    logs: LogBuffer,
    never_ending: bool,
    flags: list[str],
) -> None:
    provider.configure(listing_total=12, listing_page_size=5, listing_never_ending=never_ending)
    bid = create_batch(settings, 0, source="listing")
    workers.settings = replace(settings, pagination_max_pages=4)
    workers.start(1)
    batch = wait_batch(settings.database_url, bid, timeout=20)
    if never_ending:
        assert (batch["truncated"], batch["total_items"]) == (True, 20)
        assert batch["status_reason"].startswith("truncated: stopped after 4 pages")
        assert logs.events("listing.truncated")[0]["level"] == "warning"
    else:
        assert (batch["truncated"], batch["total_items"], batch["status"]) == (False, 12, "completed")


def test_unbounded_pagination_defect_keeps_paging(
    settings: Settings, provider: Any, workers: WorkerThreads
) -> None:
    defects.activate(["unbounded_pagination"])
    provider.configure(listing_page_size=1, listing_never_ending=True)
    create_batch(settings, 0, source="listing")
    workers.settings = replace(settings, pagination_max_pages=3)
    workers.start(1)
    wait_for(
        lambda: len([e for e in provider.ledger() if e.kind == "listing"]) > 10, what="paging past the bound"
    )
    provider.configure(listing_never_ending=False, listing_total=1)  # let it end


@pytest.mark.parametrize("defect", [False, True])
def test_a_stale_worker_loses_ownership_and_writes_nothing(
    settings: Settings, provider: Any, workers: WorkerThreads, logs: LogBuffer, defect: bool
) -> None:
    """TEST-RR-006 in miniature: while A is inside the call, its item is taken over (new token)."""
    if defect:
        defects.activate(["no_fencing"])
    bid = create_batch(settings, 1)
    with provider.barrier(nth=1) as gate:
        workers.start(1, heartbeat_s=30.0)  # A's beats are "cut off" (as if partitioned)
        gate.wait(timeout=5)
        rows(settings.database_url, "UPDATE items SET fencing_token = fencing_token + 1, worker_id = 'wB'")
    wait_for(lambda: logs.events("item.lost_ownership") or logs.events("item.completed"), what="A's outcome")
    results = one(settings.database_url, "SELECT count(*) AS n FROM results")["n"]
    if defect:
        assert (
            results == 1 and one(settings.database_url, "SELECT status FROM items")["status"] == "completed"
        )
    else:
        assert results == 0
        lost = logs.events("item.lost_ownership")[0]
        assert "lost ownership" in lost["msg"] and lost["batch_id"] == bid
        assert one(settings.database_url, "SELECT status, worker_id FROM items") == {
            "status": "processing",
            "worker_id": "wB",
        }


def test_a_restarted_worker_resumes_its_own_interrupted_item_first(
    settings: Settings, provider: Any, workers: WorkerThreads, logs: LogBuffer
) -> None:
    """TEST-RR-004: after a restart the next call is the interrupted item 3, not item 4."""
    bid = create_batch(settings, 5)
    rows(settings.database_url, "UPDATE items SET status = 'completed' WHERE seq <= 2")
    rows(
        settings.database_url,
        "UPDATE items SET status = 'processing', worker_id = 'w1', fencing_token = 1, "
        "deliveries = 1, unfinished_deliveries = 1, attempts = 1, lease_expires_at = now() + interval '1 h' "
        "WHERE seq = 3",
    )
    workers.start(1, worker_id="w1")
    assert wait_batch(settings.database_url, bid)["status"] == "completed"
    seq_of = {str(i["id"]): s for s, i in items_of(settings.database_url, bid).items()}
    assert [seq_of[e.item_id] for e in calls(provider)] == [3, 4, 5]
    assert logs.events("worker.adopted")[0]["items"] == 1


def test_a_worker_stopped_while_paging_exits_cleanly(settings: Settings, provider: Any) -> None:
    """SIGTERM (``stop``) during a never-ending listing ends the run with 0, not an exception
    (the defect keeps it paging, so the stop lands mid-pagination however slow the machine)."""
    defects.activate(["unbounded_pagination"])
    provider.configure(listing_page_size=1, listing_never_ending=True)
    create_batch(settings, 0, source="listing")
    worker = Worker(replace(settings, pagination_max_pages=3))
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(_run(worker)), daemon=True)
    thread.start()
    try:
        wait_for(lambda: len([e for e in provider.ledger() if e.kind == "listing"]) > 3, what="paging")
    finally:
        worker.stop.set()
        thread.join(timeout=20)
    provider.configure(listing_never_ending=False, listing_total=1)
    assert outcome == [0]


def _run(worker: Worker) -> object:
    try:
        return worker.run()
    except Exception as exc:  # the outcome the test must not see
        return exc
