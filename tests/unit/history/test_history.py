"""History: op pairing, indeterminate ops, faults/ledger/samples, save/load round-trip, thread safety."""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
import requests
from urllib3.exceptions import ProtocolError

from harness.history import (
    EventKind,
    FaultPhase,
    History,
    LedgerEvent,
    OpType,
    default_indeterminate,
)


def test_invoke_and_completions_pair_up_by_op() -> None:
    h = History()
    a = h.invoke("client-1", "create_batch", {"items": 3})
    b = h.invoke("client-2", "get_progress", "b-1")
    b.ok({"state": "processing"})
    a.fail("409 conflict")
    c = h.invoke("client-1", "retry_item", "i-7")
    c.info(TimeoutError("read timed out"))

    pairs = h.pairs()
    assert [(p.invoke.f, p.outcome) for p in pairs] == [
        ("create_batch", OpType.FAIL),
        ("get_progress", OpType.OK),
        ("retry_item", OpType.INFO),
    ]
    assert pairs[1].completion is not None and pairs[1].completion.value == {"state": "processing"}
    assert pairs[0].completion is not None and pairs[0].completion.error == "409 conflict"
    assert pairs[2].completion is not None and pairs[2].completion.error == "TimeoutError: read timed out"
    assert [e.index for e in h.events()] == list(range(6))


def test_an_op_completes_exactly_once() -> None:
    h = History()
    op = h.invoke("client-1", "cancel", "b-1")
    op.ok()
    with pytest.raises(ValueError, match=r"op 0 \(client-1 cancel\) already completed as ok"):
        op.fail("late")


def test_an_open_invoke_at_the_end_is_indeterminate() -> None:
    h = History()
    h.invoke("client-1", "create_batch", {"items": 1})
    (pair,) = h.pairs()
    assert pair.completion is None
    assert pair.outcome is OpType.INFO and pair.indeterminate


def test_op_context_records_ok_info_and_fail() -> None:
    h = History()
    with h.op("client-1", "create_batch", {"n": 1}) as op:
        pass
    assert op.completion is not None and op.completion.type is OpType.OK

    with h.op("client-1", "create_batch", {"n": 2}):
        raise requests.exceptions.ReadTimeout("read timed out")  # swallowed: an expected outcome

    with pytest.raises(requests.exceptions.ReadTimeout), h.op("client-1", "x", reraise=True):
        raise requests.exceptions.ReadTimeout("read timed out")

    with pytest.raises(ValueError, match="bad json"), h.op("client-1", "get_progress"):
        raise ValueError("bad json")

    with pytest.raises(KeyboardInterrupt), h.op("client-1", "get_progress"):
        raise KeyboardInterrupt

    with h.op("client-1", "retry_item") as explicit:
        explicit.fail("404 no such item")

    outcomes = [(p.outcome, p.completion.error if p.completion else None) for p in h.pairs()]
    assert outcomes == [
        (OpType.OK, None),
        (OpType.INFO, "ReadTimeout: read timed out"),
        (OpType.INFO, "ReadTimeout: read timed out"),
        (OpType.FAIL, "ValueError: bad json"),
        (OpType.INFO, "KeyboardInterrupt: "),
        (OpType.FAIL, "404 no such item"),
    ]


def test_the_classifier_can_be_replaced() -> None:
    h = History(indeterminate=lambda exc: True)
    with h.op("client-1", "create_batch"):
        raise ValueError("unknown outcome")
    assert h.pairs()[0].outcome is OpType.INFO


@pytest.mark.parametrize(
    ("exc", "maybe"),
    [
        (requests.exceptions.ReadTimeout(), True),
        (requests.exceptions.ConnectTimeout(), True),
        (
            requests.exceptions.ConnectionError(
                ProtocolError("Connection aborted.", ConnectionResetError(104))
            ),
            True,
        ),
        (
            requests.exceptions.ConnectionError("Failed to establish a new connection: Connection refused"),
            False,
        ),
        (httpx.ReadTimeout("timed out"), True),
        (httpx.ReadError("[Errno 104] Connection reset by peer"), True),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), True),
        (httpx.ConnectError("[Errno 111] Connection refused"), False),
        (http.client.RemoteDisconnected("closed"), True),
        (ConnectionRefusedError(111, "refused"), False),
        (ValueError("bad json"), False),
    ],
)
def test_default_classifier(exc: BaseException, maybe: bool) -> None:
    assert default_indeterminate(exc) is maybe


def test_a_reset_wrapped_as_cause_is_found() -> None:
    try:
        try:
            raise ConnectionResetError(104, "reset")
        except ConnectionResetError as inner:
            raise RuntimeError("client failed") from inner
    except RuntimeError as outer:
        assert default_indeterminate(outer)


def test_faults_ledger_and_samples() -> None:
    h = History()
    start = h.fault("sigkill", "worker-1", "start", signal=9)
    h.sample("batch:b-1", "processing", completed=2, failed=0)
    h.fault("sigkill", "worker-1", FaultPhase.HEAL)
    early = time.monotonic() - 10
    (entry,) = h.add_ledger([{"seq": 1, "item_id": "i-1", "arrived_at": early, "status": 200}])

    assert start.phase is FaultPhase.START and start.details == {"signal": 9}
    assert isinstance(entry, LedgerEvent) and entry.time == early and entry.entry["item_id"] == "i-1"
    assert [e.kind for e in h.events()] == [
        EventKind.FAULT,
        EventKind.SAMPLE,
        EventKind.FAULT,
        EventKind.LEDGER,
    ]
    assert len(h.events(EventKind.FAULT)) == len(h.faults()) == 2
    assert h.samples()[0].fields == {"completed": 2, "failed": 0}
    assert h.timeline()[0] is entry  # the provider's stamp puts the call where it happened
    assert abs(h.wall_time(h.start_monotonic + 1.5) - (h.start_wall + 1.5)) < 1e-6


def test_values_are_snapshots_in_json_form() -> None:
    h = History()
    value = {"ids": (1, 2), "at": Path("/x")}
    op = h.invoke("client-1", "create_batch", value)
    value["ids"] = (3,)
    assert op.invoke.value == {"ids": [1, 2], "at": "/x"}


def test_save_and_load_round_trip_losslessly(tmp_path: Path) -> None:
    h = History()
    h.invoke("client-1", "create_batch", {"items": [1, 2.5, None, "x"]}).ok({"batch": "b-1"})
    h.invoke("client-2", "get_progress", "b-1")
    h.fault("partition", "worker-1->db", "start", toxic="timeout", toxicity=1.0)
    h.add_ledger([{"seq": 1, "kind": "generate", "arrived_at": time.monotonic(), "answered_at": None}])
    h.sample("item:i-1", "completed", attempts=1)
    path = tmp_path / "history.jsonl"

    h.save(path)
    loaded = History.load(path)

    assert loaded.events() == h.events()
    assert loaded.pairs() == h.pairs()
    assert (loaded.start_monotonic, loaded.start_wall) == (h.start_monotonic, h.start_wall)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "header" and len(lines) == 1 + len(h)
    nxt = loaded.invoke("client-3", "cancel", "b-1")
    assert nxt.invoke.op_id == 2 and nxt.invoke.index == len(h)


def test_load_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"kind": "op", "nonsense": 1}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: not a history line"):
        History.load(path)


def test_concurrent_recording_keeps_order_and_pairs() -> None:
    h = History()
    threads_n, ops_n = 8, 300

    def client(n: int) -> None:
        for i in range(ops_n):
            with h.op(f"client-{n}", "get_progress", i) as op:
                if i % 3 == 0:
                    op.info("timeout")
            if i % 50 == 0:
                h.sample(f"client-{n}", "alive", i=i)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    events = h.events()
    assert [e.index for e in events] == list(range(len(events)))
    assert all(a.time <= b.time for a, b in itertools.pairwise(events))
    pairs = h.pairs()
    assert len(pairs) == threads_n * ops_n
    assert all(p.completion is not None and p.completion.op_id == p.invoke.op_id for p in pairs)
    assert all(p.completion is not None and p.completion.process == p.invoke.process for p in pairs)
    assert sum(p.indeterminate for p in pairs) == threads_n * len(range(0, ops_n, 3))
