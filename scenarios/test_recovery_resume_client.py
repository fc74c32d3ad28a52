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
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import combinations
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from harness.checkers.ledger import exactly_once, successful
from harness.errors import CapabilityMissing, ObservationMissing, Undecidable
from harness.held import cut_short
from harness.scenario import ScenarioRun
from harness.stack.render import render, render_value
from harness.target.client import Answer, TargetClient
from harness.workload import (
    TERMINAL,
    count_in_state,
    items_by_seq,
    ledger,
    log_events,
    log_offset,
    observed,
    poll_until,
    settle_timeout,
    wait_terminal,
    work_calls,
)

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

    def open(self) -> Answer:
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
        return Answer(status=resp.status, body=doc)

    def drop(self) -> None:
        """Cut the connection at once (no graceful end of the request), like a closed tab."""
        self.audit.history.fault("client_drop", self.process, "start")
        if self.conn is not None and self.conn.sock is not None:
            with contextlib.suppress(OSError):
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        if self.conn is not None:
            self.conn.close()


def db_done(audit: ScenarioRun, batch_id: str) -> int:
    """The batch's completed items as the target's own store holds them."""
    return sum(1 for i in audit.observe.items(batch_id) if i.state == "completed")


def db_state(audit: ScenarioRun, batch_id: str) -> str | None:
    """The batch's state as the target's own store holds it."""
    batch = audit.observe.batch(batch_id)
    return batch.state if batch else None


def stall_bound(audit: ScenarioRun) -> float:
    """How long a healthy target may take to complete the next, unhindered item."""
    return 2.0 + 3 * float(audit.stack.timing["lease_s"])


def api_completed(audit: ScenarioRun, client: TargetClient, batch_id: str) -> int:
    """Completed items as the target's progress shows them (its count, else the item list)."""
    done = audit.observe.batch_field(client.progress(batch_id).body, "completed", optional=True)
    return done if isinstance(done, int) else count_in_state(client, batch_id, "completed")


def answered_id(client: TargetClient, answer: Answer) -> str | None:
    """The batch id a create answer names (None when it names none, e.g. a bare 409)."""
    try:
        return client.batch_id_of(answer)
    except (KeyError, TypeError):
        return None


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


def outputs(audit: ScenarioRun, items: dict[int, Any]) -> dict[int, Any]:
    return {s: audit.observe.item_field(v, "output") for s, v in items.items() if v.state == "completed"}


# -- scenarios -------------------------------------------------------------------------------------
def answered_calls(audit: ScenarioRun) -> set[str]:
    """The items the provider has answered with success so far (the ledger)."""
    return {str(e["item_id"]) for e in work_calls(audit) if successful(e)}


def api_completed_reaching(audit: ScenarioRun, client: TargetClient, batch_id: str, at_least: int) -> int:
    """The API's completed count once it shows ``at_least`` (a parallel worker may still be
    committing an answered call), else after the bound what it shows."""
    seen = poll_until(
        lambda: (n := api_completed(audit, client, batch_id)) >= at_least and [n], timeout=stall_bound(audit)
    )
    return seen[0] if seen else api_completed(audit, client, batch_id)


@pytest.mark.audit(id="TEST-RR-001", needs=("services.api", "services.worker", "observe.items"))
def test_rr_001_client_drop_does_not_stop_work(audit: ScenarioRun) -> None:
    # Given a barrier on the 6th provider call (with one worker in order, 5 items complete first).
    # The call is held for as long as the target lets it (its own provider timeout): the drop comes
    # at once, and what needs the batch unfinished is checked on the state seen after the drop.
    (worker,) = audit.workers(1)
    audit.stack.start(services=[audit.api, worker])
    key = str(uuid.uuid4())
    with audit.provider.barrier(nth=6) as held:
        tab = DroppableCreate(audit, n=N, key=key, process="client-1")
        batch_id = audit.client("client-1").batch_id_of(tab.open())
        held.wait(timeout=settle_timeout(audit, N))
        answered = answered_calls(audit)  # what was done before the drop, whatever the order

        # When the client is dropped and a brand-new client (no session state) looks again.
        tab.drop()
        fresh = audit.client("client-2")
        if (state := fresh.batch_state(batch_id)) in TERMINAL:  # over before the drop: not mid-workflow
            cut_short(audit, f"the client was dropped (the batch was {state} first)")
        db_before = observed(lambda: db_done(audit, batch_id))
        api_done = api_completed_reaching(audit, fresh, batch_id, len(answered))
        seen = items_by_seq(fresh, batch_id)
        db_after = observed(lambda: db_done(audit, batch_id))
        retrigger = DroppableCreate(audit, n=N, key=key, process="client-2")
        again = retrigger.open()
        again_id = answered_id(fresh, again)
        retrigger.drop()
        page = audit.stack.target.observe.page
        base = audit.stack.api_url
        url = base + render(page, {"batch_id": batch_id}, where="observe.page") if page and base else None
        pool = ThreadPoolExecutor(1)  # a real reload, loading while the scenario goes on
        browser = pool.submit(browser_progress, url) if url else None
        pool.shutdown(wait=False)
    audit.evidence("progress_after_reload", f"{api_done}/{N}", expected=f">= {len(answered)}/{N}")
    audit.expect("progress_at_least_5", api_done >= len(answered),
                 detail={"api_completed": api_done, "provider_answered": len(answered)})  # fmt: skip
    with audit.deciding("progress_matches_db"):
        lo, hi = db_before(), db_after()
        audit.evidence("progress_in_db", f"{hi}/{N}", expected=f"{api_done}/{N}")
        audit.expect("progress_matches_db", lo <= api_done <= hi,
                     detail={"api": api_done, "db_before": lo, "db_after": hi})  # fmt: skip
    same = again.status == 409 or again_id == batch_id
    audit.evidence("retrigger", f"HTTP {again.status}, id {'same' if same else again_id}",
                   expected="409 or the same batch id")  # fmt: skip
    audit.expect("retrigger_refused_or_same_batch", same, detail={"status": again.status, "id": again_id})

    # Then the work continued on the server, and what the client saw is still there.
    moved = poll_until(lambda: api_completed(audit, fresh, batch_id) > api_done, timeout=stall_bound(audit))
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
    with audit.deciding("completed_items_readable"):
        was, now = outputs(audit, seen), outputs(audit, after)
        kept = {s: o for s, o in now.items() if s in was}
        audit.expect("completed_items_readable", all(kept.get(s) == o and o for s, o in was.items()),
                     detail={"before": len(was), "still_same": len(kept)})  # fmt: skip
    with audit.deciding("one_batch"):
        batches = len(audit.observe.batches())
        audit.evidence("batches_in_db", batches, expected=1)
        audit.expect("one_batch", batches == 1, detail={"batches": batches})
    once = audit.check(exactly_once(ledger(audit), [v.id for v in after.values() if v.state == "completed"]))
    audit.evidence("provider_successful_calls", once.evidence.get("successful_calls"), expected=N)
    audit.check(audit.invariants().check("duplicate_outputs"))
    audit.conclude()


def processing_spans(audit: ScenarioRun, batch_id: str) -> list[tuple[str, datetime, datetime | None]]:
    """(item, since, until) for each time an item of the batch was processing (until None: still)."""
    by_item: dict[str, list[datetime]] = defaultdict(list)
    entered: dict[str, list[int]] = defaultdict(list)
    for t in audit.observe.transitions(batch_id):
        if t.at is None:
            raise ObservationMissing("database.observations.transitions", "its rows lack at")
        if t.to_state == "processing":
            entered[t.item_id].append(len(by_item[t.item_id]))
        by_item[t.item_id].append(t.at)
    return [
        (item, times[i], times[i + 1] if i + 1 < len(times) else None)
        for item, times in by_item.items()
        for i in entered[item]
    ]


def overlapping_processing(audit: ScenarioRun, batch_ids: list[str]) -> list[dict[str, Any]]:
    """Pairs of items at one position, in batches of one request, processing at the same time."""
    seq = {i.item_id: i.seq for b in batch_ids for i in audit.observe.items(b)}
    spans = [s for b in batch_ids for s in processing_spans(audit, b)]
    return [
        {"seq": seq.get(a), "item_a": a, "item_b": b}
        for (a, a_from, a_until), (b, b_from, b_until) in combinations(spans, 2)
        if a != b and seq.get(a) == seq.get(b)
        and (b_until is None or a_from < b_until) and (a_until is None or b_from < a_until)
    ]  # fmt: skip


def batch_ids_in_db(audit: ScenarioRun) -> set[str]:
    return {b.batch_id for b in audit.observe.batches()}


@pytest.mark.audit(id="TEST-RR-002", needs=("services.api", "services.worker*2"))
def test_rr_002_double_submit_creates_one_batch(audit: ScenarioRun) -> None:
    # Given two workers (so duplicate work could run side by side) and two independent clients.
    audit.stack.start(services=[audit.api, *audit.workers(2)])
    c1, c2 = audit.client("client-1"), audit.client("client-2")
    variants: dict[str, dict[str, Any]] = {}

    # When two creates with one idempotency key are fired together from two threads.
    key = str(uuid.uuid4())
    known = observed(lambda: batch_ids_in_db(audit))
    go = threading.Barrier(2)

    def fire(client: TargetClient) -> Any:
        go.wait(timeout=10)
        return client.create_batch(N, key=key)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(fire, [c1, c2]))
    variants["same_key"] = {"answers": answers, "in_db": (known, observed(lambda: batch_ids_in_db(audit)))}

    # And the same payload is sent again without a key, right after the first answer.
    known = observed(lambda: batch_ids_in_db(audit))
    started = time.monotonic()
    first = c1.create_batch(N, use_key=False)
    second = c2.create_batch(N, use_key=False)
    gap = time.monotonic() - started
    variants["no_key"] = {
        "answers": [first, second],
        "in_db": (known, observed(lambda: batch_ids_in_db(audit))),
    }
    audit.evidence("no_key_resubmit_within_s", round(gap, 3), expected="< 2")

    # Each variant's batches: those its answers name, and those the store shows it created.
    for v in variants.values():
        v["ids"] = [str(answered_id(c1, a)) for a in v["answers"]]
        v["batches"] = {i for a in v["answers"] if (i := answered_id(c1, a)) is not None}
        before, after = v["in_db"]
        with contextlib.suppress(Undecidable):  # the store is a second source, not a need
            v["batches"] |= after() - before()

    # Then each variant made one batch, one set of provider calls, and no parallel duplicate work.
    created = sorted(set().union(*(v["batches"] for v in variants.values())))
    for bid in created:
        wait_terminal(audit, c1, bid, timeout=settle_timeout(audit, N * len(created)))
    entries = ledger(audit)
    calls = [e for e in entries if e.get("kind") == "generate"]
    # a batch no answer named and the store did not show: work nobody asked for, counted against both
    stray = [e for e in calls if e.get("batch_id") is not None and str(e["batch_id"]) not in created]
    if stray:
        audit.evidence("calls_for_unnamed_batches", len(stray), expected=0)
    for name, v in variants.items():
        statuses = [a.status for a in v["answers"]]
        dedup = all(s in (200, 201, 202, 409) for s in statuses) and len(set(v["ids"])) == 1
        audit.evidence(f"{name}_answers",
                       [f"HTTP {s} {i[:8]}" for s, i in zip(statuses, v["ids"], strict=True)],
                       expected="one id (or a 409 naming it)")  # fmt: skip
        audit.expect(f"{name}_same_id_or_409", dedup, detail={"statuses": statuses, "ids": v["ids"]})
        with audit.deciding(f"{name}_one_batch_in_db"):
            before, after = v["in_db"]
            in_db = after() - before()
            audit.evidence(f"{name}_batches_in_db", len(in_db), expected=1)
            audit.expect(f"{name}_one_batch_in_db", len(in_db) == 1, detail={"batches": sorted(in_db)})
        mine = [e for e in calls if str(e.get("batch_id")) in v["batches"]] + stray
        audit.evidence(f"{name}_provider_calls", len(mine), expected=N)
        audit.expect(f"{name}_provider_calls_once", len(mine) == N,
                     detail={"calls": len(mine), "for_unnamed_batches": len(stray)})  # fmt: skip
        with audit.deciding(f"{name}_no_overlapping_processing"):
            overlap = overlapping_processing(audit, sorted(v["batches"]))
            audit.evidence(f"{name}_overlapping_processing", len(overlap), expected=0)
            audit.expect(f"{name}_no_overlapping_processing", not overlap, detail={"first": overlap[:1]})
    audit.check(exactly_once(entries, []))
    audit.check(audit.invariants().check("duplicate_outputs"))
    audit.conclude()


def result_signature(
    audit: ScenarioRun, client: TargetClient, batch_id: str, answer: Answer
) -> dict[str, Any]:
    """A batch's result with the ids of this run taken out, to compare two runs of one request.

    The result answer's state and counts (it answers like ``observe.batch``), then each item's
    state, output and error kind as the target's items show them.
    """
    if not answer.ok or not isinstance(answer.body, dict):
        return {"status": answer.status, "body": answer.body}
    obs = audit.observe
    state = answer.body.get(audit.stack.target.observe.status_field)
    counts = {f: obs.batch_field(answer.body, f, optional=True) for f in ("total", "completed")}
    items = []
    for s, v in items_by_seq(client, batch_id).items():
        out = obs.item_field(v, "output")
        out = out.get("output", out) if isinstance(out, dict) else out  # the provider's own answer
        text = (
            json.dumps(out, sort_keys=True, default=str).replace(v.id, "<item>").replace(batch_id, "<batch>")
        )
        items.append((s, v.state, obs.item_field(v, "error_kind", optional=True), text))
    return {"state": client.canonical(str(state)), **counts, "items": items}


def client_gone_logged(audit: ScenarioRun, batch_id: str, *, since: int) -> bool | None:
    """Whether the API logged that the waiting client went away (None: it does not log that)."""
    try:
        audit.observe.events("client_gone")
    except ObservationMissing:
        return None
    logged = poll_until(  # a server polls its long-poll client within a fraction of a second
        lambda: log_events(audit, audit.api, since=since, event="client_gone", batch=batch_id), timeout=2.0
    )
    return bool(logged)


def client_gives_up(audit: ScenarioRun, client: TargetClient, batch_id: str, *, after_s: float) -> bool:
    """The client waits for the batch's outcome and gives up after ``after_s``; True if it gave up.

    It waits on the result long-poll when the target has one (``control.result``); otherwise on a
    progress read that the API cannot answer in time (its process paused for the read: a server
    too slow for its client). Either way the server is left with a request whose client is gone.
    """
    if audit.stack.target.control.result is not None:
        try:
            client.control("result", {"batch_id": batch_id, "wait": 30}, timeout=after_s)
        except requests.Timeout:
            return True
        return False
    audit.faults.pause(audit.api)
    try:
        client.progress(batch_id, timeout=after_s)
    except requests.Timeout:
        return True
    finally:
        audit.faults.resume(audit.api)
    return False


def final_answer(audit: ScenarioRun, client: TargetClient, batch_id: str, *, wait: float) -> Answer:
    """The batch's outcome as a user asks for it: the result call if the target has one (long-polling
    up to ``wait`` s), else its progress once it is terminal."""
    if audit.stack.target.control.result is not None:
        return client.control("result", {"batch_id": batch_id, "wait": int(wait)}, timeout=wait + 10)
    if wait:
        wait_terminal(audit, client, batch_id, timeout=wait)
    return client.progress(batch_id)


@pytest.mark.audit(
    id="TEST-RR-003",
    needs=(
        "services.api",
        "services.worker",
        "observe.items",
        "control.result?",
        "logs.events.client_gone?",
        "logs.batch_field?",
    ),
)
def test_rr_003_client_timeout_keeps_result(audit: ScenarioRun) -> None:
    # Given one worker held inside its 8th call; the client gives up well inside the target's own
    # provider timeout, so the call is still held (the job unfinished) when the client goes.
    (worker,) = audit.workers(1)
    audit.stack.start(services=[audit.api, worker])
    client = audit.client()
    give_up_s, long_poll_s = min(0.3, float(audit.stack.timing["provider_timeout_s"]) / 4), 30
    with audit.provider.barrier(nth=8) as held:
        batch_id = client.batch_id_of(client.create_batch(N))
        held.wait(timeout=settle_timeout(audit, N))

        # When the client waits for the result with a very short timeout and gives up.
        since = log_offset(audit, audit.api)
        gave_up = client_gives_up(audit, client, batch_id, after_s=give_up_s)
        noticed = client_gone_logged(audit, batch_id, since=since)
        # a job that completed before the server saw its client go says nothing about the server
        if audit.client("client-2").batch_state(batch_id) == "completed":
            cut_short(audit, "the server noticed the client leave (the job completed first)")
    audit.evidence("client_gave_up_after_s", give_up_s if gave_up else "answered in time", expected=give_up_s)
    audit.evidence("server_noticed_disconnect", "not logged by the target" if noticed is None else noticed)
    audit.expect("client_gave_up", gave_up, detail={"client_timeout_s": give_up_s})

    # Then the server completes the job, and a re-request shows the result of an uninterrupted run.
    final = wait_terminal(audit, client, batch_id, timeout=settle_timeout(audit, N))
    audit.evidence("final_state", final, expected="completed")
    audit.expect("job_completed_not_failed", final == "completed", detail={"state": final})
    again = final_answer(audit, audit.client("client-2"), batch_id, wait=0)
    ref = client.batch_id_of(client.create_batch(N))
    uninterrupted = final_answer(audit, client, ref, wait=long_poll_s)
    done = count_in_state(client, batch_id, "completed")
    audit.evidence(
        "result_on_revisit", f"HTTP {again.status}, {done}/{N} completed", expected=f"HTTP 200, {N}/{N}"
    )
    with audit.deciding("result_identical_to_uninterrupted_run"):
        revisit = result_signature(audit, client, batch_id, again)
        reference = result_signature(audit, client, ref, uninterrupted)
        same = again.ok and revisit == reference
        detail = {"revisit": revisit, "uninterrupted": reference}
        audit.expect("result_identical_to_uninterrupted_run", same, detail=detail)
    audit.check(exactly_once(ledger(audit), [v.id for v in client.items(batch_id) if v.state == "completed"]))
    audit.conclude()


def boot_id(audit: ScenarioRun, client: TargetClient) -> Any:
    """The API process's identity from its health answer, for evidence (None: not reported)."""
    try:
        return audit.observe.health_field(client.health().body, "boot_id", optional=True)
    except CapabilityMissing:
        return None


@pytest.mark.audit(
    id="TEST-RR-007",
    needs=("services.api", "services.worker", "observe.items", "observe.health?", "control.result?"),
)
def test_rr_007_progress_survives_api_restart(audit: ScenarioRun) -> None:
    n = 24
    # The call is held for as long as the target lets it: with a provider timeout longer than the
    # API restart the first fresh read lands mid-batch; with a shorter one the batch may finish
    # while the API is down. Either way 8 items completed before the restart, which a fresh read
    # must still show, so the check decides on any provider timeout.
    (worker,) = audit.workers(1)
    audit.stack.start(services=[audit.api, worker])
    client = audit.client()
    #: each read of progress: (the store before, the API, the store after); the API's count must
    #: lie between the two store reads (each a thunk: the store is a second source, not a need)
    samples: list[tuple[Callable[[], int], int, Callable[[], int]]] = []

    def sample(c: TargetClient, bid: str) -> tuple[Callable[[], int], int, Callable[[], int]]:
        lo = observed(lambda: db_done(audit, bid))
        api = api_completed(audit, c, bid)
        hi = observed(lambda: db_done(audit, bid))
        samples.append((lo, api, hi))
        return lo, api, hi

    def between(s: tuple[Callable[[], int], int, Callable[[], int]]) -> list[int]:
        """[db before, api, db after] (raises when the store cannot answer)."""
        return [s[0](), s[1], s[2]()]

    # Given a 24-item batch held inside its 9th call (8 complete) and its progress as the first
    # session saw it.
    with audit.provider.barrier(nth=9) as held:
        batch_id = client.batch_id_of(client.create_batch(n))
        held.wait(timeout=settle_timeout(audit, n))
        before = sample(client, batch_id)
        boot_before = boot_id(audit, client)

        # When the whole client session is discarded and the API process restarts.
        client.session.close()
        audit.faults.restart(audit.api)
        fresh = audit.client("client-2")
        after = sample(fresh, batch_id)
        boot_after = boot_id(audit, fresh)
        audit.provider.configure(default_delay_ms=20)  # the rest at a pace progress can be sampled at
    audit.evidence("api_restarted", "not reported" if boot_before is None else boot_before != boot_after)
    audit.evidence("progress_before_restart", f"{before[1]}/{n}")
    audit.evidence("progress_after_restart", f"{after[1]}/{n}", expected=f">= {before[1]}/{n}")
    with audit.deciding("progress_matches_db_before"):
        s = between(before)
        audit.expect("progress_matches_db_before", s[0] <= s[1] <= s[2], detail={"sample": s})
    with audit.deciding("progress_matches_db_after_restart"):
        s = between(after)
        audit.evidence("progress_in_db_after_restart", f"{s[0]}..{s[2]}/{n}", expected=f"{after[1]}/{n}")
        audit.expect("progress_matches_db_after_restart", s[0] <= s[1] <= s[2], detail={"sample": s})

    # Then progress read afresh follows the database until the end and never goes backwards.
    def finished() -> bool:
        reader = audit.client("client-3")
        sample(reader, batch_id)
        return reader.batch_state(batch_id) in TERMINAL

    poll_until(finished, timeout=settle_timeout(audit, n), interval=0.05)
    last = audit.client("client-4")
    final, done = last.batch_state(batch_id), api_completed(audit, last, batch_id)
    reads = [s[1] for s in samples]
    backwards = [(a, b) for a, b in itertools.pairwise(reads) if b < a]
    audit.evidence("progress_samples", len(samples))
    audit.evidence("went_backwards", len(backwards), expected=0)
    audit.expect("progress_never_backwards", not backwards, detail={"first": backwards[:1]})
    with audit.deciding("progress_always_matches_db"):
        mismatches = [s for s in map(between, samples) if not s[0] <= s[1] <= s[2]]
        audit.expect("progress_always_matches_db", not mismatches, detail={"first": mismatches[:1]})
    audit.evidence("final", f"{final}, {done}/{n} completed", expected=f"completed, {n}/{n}")
    with audit.deciding("final_progress_matches_db"):
        db_final = {"state": db_state(audit, batch_id), "completed": db_done(audit, batch_id)}
        audit.evidence("final_in_db", f"{db_final['state']}, {db_final['completed']}/{n} completed")
        audit.expect("final_progress_matches_db", final == db_final["state"] == "completed" and done == n,
                     detail={"api": [final, done], "db": db_final})  # fmt: skip
    with audit.deciding("results_accessible"):
        result = final_answer(audit, last, batch_id, wait=0)
        output = audit.observe.item_field
        readable = [v for v in last.items(batch_id) if output(v, "output")] if result.ok else []
        audit.evidence("results_accessible", len(readable), expected=n)
        audit.expect("results_accessible", len(readable) == n, detail={"status": result.status})
    audit.conclude()
