"""Request boundaries for the http_error toxic, fed in arbitrary pieces."""

from __future__ import annotations

import pytest

from harness.faults.proxy.httpframing import Body, End, Head, Raw, RequestFramer

REQUESTS = (
    b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nTrail: y\r\n\r\n"
    b"GET /d HTTP/1.0\r\n\r\n"
)


def run(data: bytes, step: int) -> list[object]:
    framer = RequestFramer()
    events: list[object] = []
    for start in range(0, len(data), step):
        events.extend(framer.feed(data[start : start + step]))
    return events


@pytest.mark.parametrize("step", [1, 2, 7, 64, 10_000])
def test_boundaries_whatever_the_pieces(step):
    events = run(REQUESTS, step)
    heads = [event for event in events if isinstance(event, Head)]
    assert [head.data.split(b" ")[1] for head in heads] == [b"/a", b"/b", b"/c", b"/d"]
    assert sum(isinstance(event, End) for event in events) == 4
    assert [head.keep_alive for head in heads] == [True, True, True, False]
    rebuilt = b"".join(getattr(event, "data", b"") for event in events)
    assert rebuilt == REQUESTS  # every byte exactly once, in order
    body = b"".join(event.data for event in events if isinstance(event, Body))
    assert body == b"hello" + b"3;ext=1\r\nabc\r\n0\r\nTrail: y\r\n\r\n"


def test_not_http_passes_through():
    events = RequestFramer().feed(b"\x16\x03\x01 binary tls hello\r\n\r\nmore")
    assert all(isinstance(event, Raw) for event in events)
    assert b"".join(event.data for event in events) == b"\x16\x03\x01 binary tls hello\r\n\r\nmore"


def test_upgrade_switches_to_raw_after_the_request():
    framer = RequestFramer()
    head = b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    events = framer.feed(head + b"frames")
    assert isinstance(events[0], Head) and isinstance(events[1], End)
    assert events[2] == Raw(b"frames")


def test_expect_continue_and_blank_lines():
    events = RequestFramer().feed(b"\r\nPUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n")
    assert events[0] == Raw(b"\r\n")
    assert isinstance(events[1], Head) and events[1].expect_continue


def test_pending_head_is_reported():
    framer = RequestFramer()
    assert framer.feed(b"GET / HTTP/1.1\r\nHo") == []
    assert framer.pending == b"GET / HTTP/1.1\r\nHo"
