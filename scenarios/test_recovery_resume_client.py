"""Recovery & Resume Audit (seed 000): interruptions on the client side.

The client goes away (closed tab, dropped connection, client timeout, lost session) while the
server works; the server's state must not depend on it (TEST-RR-001, -002, -003, -007).
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from harness.checkers.ledger import exactly_once
from harness.scenario import ScenarioRun
from harness.stack.render import render, render_value
from harness.target.client import TargetClient
from harness.workload import (
    TERMINAL,
    count_in_state,
    db_rows,
    items_by_seq,
    ledger,
    log_events,
    log_offset,
    poll_until,
    settle_timeout,
    wait_terminal,
)

TASK = "Recovery & Resume"
N = 20
BROWSER_TIMEOUT_S = 60.0


# -- group-local helpers ---------------------------------------------------------------------------
class DroppableCreate:
    """The create request on a raw connection the scenario can cut (a tab closed mid-request).

    ``open`` sends it and reads only the first JSON document of the answer, so it works whether
    the target answers at once (202 + body) or streams progress inside the request.
    """

    def __init__(self, audit: ScenarioRun, *, n: int, key: str, process: str) -> None:
        self.audit, self.n, self.key, self.process = audit, n, key, process
        self.conn: http.client.HTTPConnection | None = None

    def open(self) -> tuple[int, dict[str, Any]]:
        trig = self.audit.stack.target.trigger
        values = {"n": self.n, "priority": 0}
        path = render(trig.create.path, values, where="trigger.create.path")
        body = json.dumps(render_value(trig.create.body, values, where="trigger.create.body"))
        headers = {"Content-Type": "application/json"}
        if trig.idempotency_header:
            headers[trig.idempotency_header] = self.key
        url = urlsplit(self.audit.stack.api_url or "")
        op = self.audit.history.invoke(self.process, "create_batch", {"path": path, "n": self.n, "raw": True})
        try:
            self.conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
            self.conn.request(trig.create.method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            doc = json.loads(resp.readline(1 << 20) or b"{}")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            op.info(f"{type(exc).__name__}: {exc}")
            raise
        op.ok({"status": resp.status})
        return resp.status, doc

    def drop(self) -> None:
        """Cut the connection at once (no graceful end of the request), like a closed tab."""
        self.audit.history.fault("client_drop", self.process, "start")
        if self.conn is not None and self.conn.sock is not None:
            with contextlib.suppress(OSError):
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        if self.conn is not None:
            self.conn.close()


def db_counts(audit: ScenarioRun, batch_id: str) -> dict[str, Any]:
    """The batch's state and item counts as its own database holds them."""
    rows = db_rows(
        audit,
        "SELECT b.status, count(i.id) FILTER (WHERE i.status = 'completed') AS completed, "
        "count(i.id) AS items FROM batches b LEFT JOIN items i ON i.batch_id = b.id "
        "WHERE b.id = %(b)s GROUP BY b.status",
        b=batch_id,
    )
    return rows[0] if rows else {"status": None, "completed": 0, "items": 0}


def stall_bound(audit: ScenarioRun) -> float:
    """How long a healthy target may take to complete the next, unhindered item."""
    return 2.0 + 3 * audit.stack.timing["lease_s"]


def api_completed(client: TargetClient, batch_id: str) -> int:
    """Completed items as the target's progress shows them (its count, else the item list)."""
    body = client.progress(batch_id).body
    if isinstance(body, dict) and isinstance(body.get("completed"), int):
        return int(body["completed"])
    return count_in_state(client, batch_id, "completed")


def browser_progress(url: str) -> dict[str, int] | None:
    """Load the target's page in a headless browser (a hard reload); #completed / #total, or None."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        return None
    argv = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--dump-dom", "--virtual-time-budget=2000", url]  # fmt: skip
    try:
        dom = subprocess.run(argv, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError):  # the harness's browser failed, not the target
        return None
    found = {k: re.search(rf'id="{k}"[^>]*>(\d+)<', dom) for k in ("completed", "total")}
    return {k: int(m.group(1)) for k, m in found.items() if m}


def outputs(items: dict[int, Any]) -> dict[int, Any]:
    return {s: v.raw.get("output") for s, v in items.items() if v.state == "completed"}


# -- scenarios -------------------------------------------------------------------------------------
@pytest.mark.audit(id="TEST-RR-001", title="Refresh midway through workflow", task=TASK, severity="HIGH")
def test_rr_001_client_drop_does_not_stop_work(audit: ScenarioRun) -> None:
    # Given one worker (items in order) and a barrier on the 6th provider call: 5 items complete.
    # The held call must outlast the observations made while it is held.
    audit.stack.start(services=["api", "worker-1"], timing={"provider_timeout_s": 5.0})
    key = str(uuid.uuid4())
    with audit.provider.barrier(nth=6) as held:
        tab = DroppableCreate(audit, n=N, key=key, process="client-1")
        _, first = tab.open()
        batch_id = str(first["id"])
        held.wait(timeout=settle_timeout(audit, N))

        # When the client is dropped and a brand-new client (no session state) looks again.
        tab.drop()
        fresh = audit.client("client-2")
        db_before = db_counts(audit, batch_id)
        api_done = api_completed(fresh, batch_id)
        seen = items_by_seq(fresh, batch_id)
        db_after = db_counts(audit, batch_id)
        retrigger = DroppableCreate(audit, n=N, key=key, process="client-2")
        again_status, again = retrigger.open()
        retrigger.drop()
        page = audit.stack.target.observe.page
        url = (
            audit.stack.api_url + render(page, {"batch_id": batch_id}, where="observe.page") if page else None
        )
        pool = ThreadPoolExecutor(1)  # a real reload, loading while the scenario goes on
        browser = pool.submit(browser_progress, url) if url else None
        pool.shutdown(wait=False)
    audit.evidence("progress_after_reload", f"{api_done}/{N}", expected=f">= 5/{N}")
    audit.evidence("progress_in_db", f"{db_after['completed']}/{N}", expected=f"{api_done}/{N}")
    audit.expect("progress_at_least_5", api_done >= 5, detail={"api_completed": api_done})
    audit.expect(
        "progress_matches_db",
        db_before["completed"] <= api_done <= db_after["completed"],
        detail={"api": api_done, "db_before": db_before["completed"], "db_after": db_after["completed"]},
    )
    same = again_status == 409 or str(again.get("id")) == batch_id
    audit.evidence("retrigger", f"HTTP {again_status}, id {'same' if same else again.get('id')}",
                   expected="409 or the same batch id")  # fmt: skip
    audit.expect(
        "retrigger_refused_or_same_batch", same, detail={"status": again_status, "id": again.get("id")}
    )

    # Then the work continued on the server, and what the client saw is still there.
    moved = poll_until(lambda: db_counts(audit, batch_id)["completed"] > api_done, timeout=stall_bound(audit))
    audit.expect("work_continues_after_disconnect", bool(moved), detail={"stuck_at": api_done})
    shown = browser.result(timeout=BROWSER_TIMEOUT_S) if browser else None
    audit.evidence("browser", shown if shown is not None else "not available")
    if shown is not None:  # the page loaded after the drop: at least what the drop left, of N
        ok = shown.get("total") == N and shown.get("completed", 0) >= api_done
        audit.expect("browser_shows_progress", ok, detail={"page": shown})
    if not moved:
        audit.conclude()
    final = wait_terminal(audit, fresh, batch_id, timeout=settle_timeout(audit, N))
    after = items_by_seq(audit.client("client-3"), batch_id)
    done = sorted(s for s, v in after.items() if v.state == "completed")
    audit.evidence("final", f"{final}, {len(done)}/{N} completed", expected=f"completed, {N}/{N}")
    audit.expect("batch_completed", final == "completed" and len(done) == N, detail={"state": final})
    kept = {s: o for s, o in outputs(after).items() if s in outputs(seen)}
    audit.expect("completed_items_readable", all(kept.get(s) == o and o for s, o in outputs(seen).items()),
                 detail={"before": len(outputs(seen)), "still_same": len(kept)})  # fmt: skip
    batches = db_rows(audit, "SELECT count(*) AS n FROM batches")[0]["n"]
    audit.evidence("batches_in_db", batches, expected=1)
    audit.expect("one_batch", batches == 1, detail={"batches": batches})
    once = audit.check(exactly_once(ledger(audit), [v.id for v in after.values() if v.state == "completed"]))
    audit.evidence("provider_successful_calls", once.evidence.get("successful_calls"), expected=N)
    audit.check(audit.invariants().check("duplicate_outputs"))
    audit.conclude()


def overlapping_processing(audit: ScenarioRun, batch_ids: list[str]) -> list[dict[str, Any]]:
    """Pairs of items at one position, in batches of one request, processing at the same time."""
    return db_rows(
        audit,
        """
        WITH t AS (
          SELECT t.entity_id, i.seq, t.to_state, t.at,
                 lead(t.at) OVER (PARTITION BY t.entity_id ORDER BY t.id) AS until
          FROM transitions t JOIN items i ON i.id = t.entity_id
          WHERE t.entity = 'item' AND i.batch_id::text = ANY(%(batches)s))
        SELECT a.seq, a.entity_id::text AS item_a, b.entity_id::text AS item_b
        FROM t a JOIN t b ON a.seq = b.seq AND a.entity_id < b.entity_id
        WHERE a.to_state = 'processing' AND b.to_state = 'processing'
          AND a.at < coalesce(b.until, now()) AND b.at < coalesce(a.until, now())
        """,
        batches=batch_ids,
    )


def batch_ids_in_db(audit: ScenarioRun) -> set[str]:
    return {r["id"] for r in db_rows(audit, "SELECT id::text AS id FROM batches")}


@pytest.mark.audit(
    id="TEST-RR-002", title="Trigger workflow twice (double submit)", task=TASK, severity="CRITICAL"
)
def test_rr_002_double_submit_creates_one_batch(audit: ScenarioRun) -> None:
    # Given two workers (so duplicate work could run side by side) and two independent clients.
    audit.stack.start(services=["api", "worker-1", "worker-2"])
    c1, c2 = audit.client("client-1"), audit.client("client-2")
    variants: dict[str, dict[str, Any]] = {}

    # When two creates with one idempotency key are fired together from two threads.
    key = str(uuid.uuid4())
    known = batch_ids_in_db(audit)
    go = threading.Barrier(2)

    def fire(client: TargetClient) -> Any:
        go.wait(timeout=10)
        return client.create_batch(N, key=key)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(fire, [c1, c2]))
    variants["same_key"] = {"answers": answers, "batches": batch_ids_in_db(audit) - known}

    # And the same payload is sent again without a key, right after the first answer.
    known = batch_ids_in_db(audit)
    started = time.monotonic()
    first = c1.create_batch(N, use_key=False)
    second = c2.create_batch(N, use_key=False)
    gap = time.monotonic() - started
    variants["no_key"] = {"answers": [first, second], "batches": batch_ids_in_db(audit) - known}
    audit.evidence("no_key_resubmit_within_s", round(gap, 3), expected="< 2")

    # Then each variant made one batch, one set of provider calls, and no parallel duplicate work.
    created = sorted(set().union(*(v["batches"] for v in variants.values())))
    for bid in created:
        wait_terminal(audit, c1, bid, timeout=settle_timeout(audit, N * len(created)))
    entries = ledger(audit)
    for name, v in variants.items():
        ids = [str(a.body.get("id")) for a in v["answers"] if isinstance(a.body, dict)]
        statuses = [a.status for a in v["answers"]]
        dedup = all(s in (200, 201, 202, 409) for s in statuses) and len(set(ids)) == 1
        audit.evidence(f"{name}_answers", [f"HTTP {s} {i[:8]}" for s, i in zip(statuses, ids, strict=True)],
                       expected="one id (or a 409 naming it)")  # fmt: skip
        audit.expect(f"{name}_same_id_or_409", dedup, detail={"statuses": statuses, "ids": ids})
        audit.evidence(f"{name}_batches_in_db", len(v["batches"]), expected=1)
        audit.expect(
            f"{name}_one_batch_in_db", len(v["batches"]) == 1, detail={"batches": sorted(v["batches"])}
        )
        calls = [e for e in entries if e.get("kind") == "generate" and str(e.get("batch_id")) in v["batches"]]
        audit.evidence(f"{name}_provider_calls", len(calls), expected=N)
        audit.expect(f"{name}_provider_calls_once", len(calls) == N, detail={"calls": len(calls)})
        overlap = overlapping_processing(audit, sorted(v["batches"]))
        audit.evidence(f"{name}_overlapping_processing", len(overlap), expected=0)
        audit.expect(f"{name}_no_overlapping_processing", not overlap, detail={"first": overlap[:1]})
    audit.check(exactly_once(entries, []))
    audit.check(audit.invariants().check("duplicate_outputs"))
    audit.conclude()


def result_signature(doc: Any) -> dict[str, Any]:
    """A batch result with the ids of this run taken out, to compare two runs of one request."""
    if not isinstance(doc, dict):
        return {"body": doc}
    items = []
    for it in doc.get("items") or []:
        out = it.get("output")
        out = out.get("output", out) if isinstance(out, dict) else out
        text = json.dumps(out).replace(str(it.get("id")), "<item>").replace(str(doc.get("id")), "<batch>")
        items.append((it.get("seq"), it.get("status"), it.get("error_kind"), text))
    keys = ("status", "total", "completed", "failed", "done")
    return {**{k: doc.get(k) for k in keys}, "items": items}


@pytest.mark.audit(
    id="TEST-RR-003", title="Force timeout after server-side success", task=TASK, severity="HIGH"
)
def test_rr_003_client_timeout_keeps_result(audit: ScenarioRun) -> None:
    # Given one worker held inside item 8 (the held call must outlast the client's give-up).
    audit.stack.start(services=["api", "worker-1"], timing={"provider_timeout_s": 5.0})
    client = audit.client()
    give_up_s, long_poll_s = 0.3, 30
    with audit.provider.barrier(nth=8) as held:
        batch_id = client.batch_id_of(client.create_batch(N))
        held.wait(timeout=settle_timeout(audit, N))

        # When the client long-polls for the result with a very short timeout and gives up.
        since = log_offset(audit, "api")
        try:
            client.control("result", {"batch_id": batch_id, "wait": long_poll_s}, timeout=give_up_s)
            gave_up = False
        except requests.Timeout:
            gave_up = True
        noticed = poll_until(  # a server polls its long-poll client within a fraction of a second
            lambda: log_events(audit, "api", since=since, event="result.client_gone", batch_id=batch_id),
            timeout=2.0,
        )
    audit.evidence("client_gave_up_after_s", give_up_s if gave_up else "answered in time", expected=give_up_s)
    audit.evidence("server_noticed_disconnect", bool(noticed))
    audit.expect("client_gave_up", gave_up, detail={"client_timeout_s": give_up_s})

    # Then the server completes the job, and a re-request shows the result of an uninterrupted run.
    final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, N))
    audit.evidence("final_state", final, expected="completed")
    audit.expect("job_completed_not_failed", final == "completed", detail={"state": final})
    again = audit.client("client-2").control("result", {"batch_id": batch_id, "wait": 0})
    ref = client.batch_id_of(client.create_batch(N))
    uninterrupted = client.control("result", {"batch_id": ref, "wait": long_poll_s}, timeout=long_poll_s + 10)
    same = again.status == 200 and result_signature(again.body) == result_signature(uninterrupted.body)
    done = count_in_state(client, batch_id, "completed")
    audit.evidence(
        "result_on_revisit", f"HTTP {again.status}, {done}/{N} completed", expected=f"HTTP 200, {N}/{N}"
    )
    detail = {"revisit": result_signature(again.body), "uninterrupted": result_signature(uninterrupted.body)}
    audit.expect("result_identical_to_uninterrupted_run", same, detail=detail)
    audit.check(exactly_once(ledger(audit), [v.id for v in client.items(batch_id) if v.state == "completed"]))
    audit.conclude()


@pytest.mark.audit(id="TEST-RR-007", title="Progress persistence across sessions", task=TASK, severity="HIGH")
def test_rr_007_progress_survives_api_restart(audit: ScenarioRun) -> None:
    n = 24
    # The held call must outlast an API restart, so the first fresh read lands mid-batch.
    audit.stack.start(services=["api", "worker-1"], timing={"provider_timeout_s": 20.0})
    client = audit.client()
    samples: list[int] = []

    def sample(c: TargetClient, bid: str) -> tuple[int, int, int]:
        """(db before, api, db after): the API's count must lie between two DB reads."""
        lo = db_counts(audit, bid)["completed"]
        api = api_completed(c, bid)
        hi = db_counts(audit, bid)["completed"]
        samples.append(api)
        return lo, api, hi

    # Given a 24-item batch held inside item 9 (8 complete) and its progress as the first session saw it.
    with audit.provider.barrier(nth=9) as held:
        batch_id = client.batch_id_of(client.create_batch(n))
        held.wait(timeout=settle_timeout(audit, n))
        before = sample(client, batch_id)
        boot_before = client.health().body.get("boot_id")

        # When the whole client session is discarded and the API process restarts.
        client.session.close()
        audit.faults.restart("api")
        fresh = audit.client("client-2")
        after = sample(fresh, batch_id)
        boot_after = fresh.health().body.get("boot_id")
        audit.provider.configure(default_delay_ms=20)  # the rest at a pace progress can be sampled at
    audit.evidence("api_restarted", boot_before != boot_after)
    audit.evidence("progress_before_restart", f"{before[1]}/{n}", expected=f"{before[0]}/{n}")
    audit.evidence("progress_after_restart", f"{after[1]}/{n}", expected=f"{after[0]}..{after[2]}/{n} (DB)")
    audit.expect("progress_matches_db_before", before[0] <= before[1] <= before[2], detail={"sample": before})
    audit.expect(
        "progress_matches_db_after_restart", after[0] <= after[1] <= after[2], detail={"sample": after}
    )

    # Then progress read afresh follows the database until the end and never goes backwards.
    mismatches: list[tuple[int, int, int]] = []

    def finished() -> bool:
        s = sample(audit.client("client-3"), batch_id)
        if not s[0] <= s[1] <= s[2]:
            mismatches.append(s)
        return db_counts(audit, batch_id)["status"] in TERMINAL

    poll_until(finished, timeout=settle_timeout(audit, n), interval=0.05)
    last = audit.client("client-4")
    final, done = last.batch_state(batch_id), api_completed(last, batch_id)
    backwards = [(a, b) for a, b in itertools.pairwise(samples) if b < a]
    audit.evidence("progress_samples", len(samples))
    audit.evidence("went_backwards", len(backwards), expected=0)
    audit.expect("progress_never_backwards", not backwards, detail={"first": backwards[:1]})
    audit.expect("progress_always_matches_db", not mismatches, detail={"first": mismatches[:1]})
    db_final = db_counts(audit, batch_id)
    audit.evidence(
        "final",
        f"{final}, {done}/{n} completed",
        expected=f"{db_final['status']}, {db_final['completed']}/{n}",
    )
    audit.expect("final_progress_matches_db", final == db_final["status"] == "completed" and done == n,
                 detail={"api": [final, done], "db": db_final})  # fmt: skip
    result = last.control("result", {"batch_id": batch_id, "wait": 0})
    readable = [i for i in (result.body.get("items") or []) if i.get("output")] if result.ok else []
    audit.evidence("results_accessible", len(readable), expected=n)
    audit.expect("results_accessible", len(readable) == n, detail={"status": result.status})
    audit.conclude()
