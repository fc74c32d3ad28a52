"""A parallel run's console keeps the catalogue's order: a line waits for every earlier one."""

from __future__ import annotations

import io
import re
from typing import Any

from harness.run.console import Console, InOrder, seed_ordered

COLLECTED = [  # collection order (by module), not the catalogue's
    {"id": "TEST-RR-SL01", "nodeid": "test_loops.py::sl01"},
    {"id": "TEST-RR-Q03", "nodeid": "test_queue.py::q03"},
    {"id": "TEST-RR-001", "nodeid": "test_client.py::rr001"},
    {"id": "TEST-RR-006", "nodeid": "test_server.py::rr006"},
]


def _verdict(sid: str, nodeid: str, verdict: str = "pass") -> dict[str, Any]:
    return {"event": "verdict", "id": sid, "nodeid": nodeid, "verdict": verdict, "severity": "HIGH",
            "evidence": {}, "duration_s": 1.0}  # fmt: skip


def _printed_ids(out: io.StringIO) -> list[str]:
    return re.findall(r"^\[\s*\d+/\d+\] \S+\s+(TEST-\S+)", out.getvalue(), flags=re.M)


def test_the_order_is_the_catalogues() -> None:
    assert seed_ordered(COLLECTED) == [
        "test_client.py::rr001", "test_server.py::rr006", "test_loops.py::sl01", "test_queue.py::q03",
    ]  # fmt: skip


def test_a_finished_line_waits_until_every_earlier_one_is_printed() -> None:
    out = io.StringIO()
    console = Console(stream=out, ordered=True)
    console.event({"event": "collected", "scenarios": COLLECTED})
    for c in COLLECTED:
        console.event({"event": "start", "id": c["id"], "nodeid": c["nodeid"]})
    console.event(_verdict("TEST-RR-Q03", "test_queue.py::q03"))
    console.event(_verdict("TEST-RR-006", "test_server.py::rr006"))
    assert _printed_ids(out) == []  # RR-001 is still running
    console.event(_verdict("TEST-RR-001", "test_client.py::rr001", "fail"))
    assert _printed_ids(out) == ["TEST-RR-001", "TEST-RR-006"]  # SL01 still running
    console.event(_verdict("TEST-RR-SL01", "test_loops.py::sl01"))
    assert _printed_ids(out) == ["TEST-RR-001", "TEST-RR-006", "TEST-RR-SL01", "TEST-RR-Q03"]
    counters = re.findall(r"^\[(\s*\d+)/4\]", out.getvalue(), flags=re.M)
    assert [int(c) for c in counters] == [1, 2, 3, 4]


def test_a_lost_scenario_releases_the_lines_behind_it_and_the_end_releases_the_rest() -> None:
    out = io.StringIO()
    console = Console(stream=out, ordered=True)
    console.event({"event": "collected", "scenarios": COLLECTED})
    console.event(_verdict("TEST-RR-006", "test_server.py::rr006"))
    console.event({"event": "lost", "id": "TEST-RR-001", "nodeid": "test_client.py::rr001"})
    assert _printed_ids(out) == ["TEST-RR-006"]
    console.event(_verdict("TEST-RR-Q03", "test_queue.py::q03"))
    assert _printed_ids(out) == ["TEST-RR-006"]  # SL01 never reported...
    console.finish()  # ...and the run is over
    assert _printed_ids(out) == ["TEST-RR-006", "TEST-RR-Q03"]


def test_a_serial_run_prints_each_line_as_it_comes() -> None:
    out = io.StringIO()
    console = Console(stream=out)
    console.event({"event": "collected", "scenarios": COLLECTED})
    console.event(_verdict("TEST-RR-Q03", "test_queue.py::q03"))
    assert _printed_ids(out) == ["TEST-RR-Q03"]


def test_a_terminal_shows_what_is_running_below_the_lines() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    console = Console(stream=out, ordered=True)
    console.event({"event": "collected", "scenarios": COLLECTED})
    console.event({"event": "start", "id": "TEST-RR-006", "nodeid": "test_server.py::rr006"})
    console.event({"event": "start", "id": "TEST-RR-001", "nodeid": "test_client.py::rr001"})
    assert out.getvalue().endswith("running: TEST-RR-001, TEST-RR-006 (0/4 printed)")
    console.event(_verdict("TEST-RR-001", "test_client.py::rr001"))
    assert out.getvalue().endswith("running: TEST-RR-006 (1/4 printed)")
    console.finish()
    assert out.getvalue().endswith("\r\033[K")  # the status line is gone at the end


def test_in_order_holds_and_releases() -> None:
    order = InOrder(["a", "b", "c"])
    assert order.add("c", 3) == [] and order.waiting_for == "a"
    assert order.add("a", 1) == [1]
    assert order.drop("b") == [3] and order.waiting_for is None
    assert order.add("elsewhere", 9) == [9]  # a key outside the plan is never held back
