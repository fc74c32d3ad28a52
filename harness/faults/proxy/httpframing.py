"""Find HTTP/1.x request boundaries in a client's byte stream (for the ``http_error`` toxic).

The proxy relays TCP, not HTTP, so to answer *some* requests of a keep-alive connection it must
know where each request starts and ends. :class:`RequestFramer` is an incremental parser: fed
whatever ``recv`` returned, it yields :class:`Head`, :class:`Body`, :class:`End` and
:class:`Raw` events that together contain every input byte exactly once, in order.

Framing rules (RFC 9112 §6.3, request side): ``Transfer-Encoding`` ending in ``chunked`` → chunked
body (chunk sizes, extensions and trailers are followed); else ``Content-Length``; else no body.
Limits, where the framer gives up and turns the rest of the connection into :class:`Raw`
pass-through: a request head over 64 KiB, a line that is not an HTTP/1.x request line (e.g. the
toxic was added in the middle of a request, or the protocol is not HTTP/1), conflicting
``Content-Length`` values, a malformed chunk size, and anything after a ``CONNECT`` or an
``Upgrade`` request (WebSocket, h2c), whose bytes are no longer HTTP/1 requests. HTTP/2 and TLS are
never parsed (they are not HTTP/1 request lines, so they pass through).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_HEAD = 64 * 1024
_REQUEST_LINE = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP/1\.([01])$")


@dataclass(frozen=True, kw_only=True)
class Head:
    """A complete request head (request line + headers); ``data`` is its exact bytes."""

    data: bytes
    method: str
    version: str
    keep_alive: bool
    expect_continue: bool


@dataclass(frozen=True)
class Body:
    """Bytes of the current request's body, framing included (chunk sizes, trailers)."""

    data: bytes


@dataclass(frozen=True)
class End:
    """The current request is complete; the next byte starts a new request."""


@dataclass(frozen=True)
class Raw:
    """Bytes forwarded unparsed: empty lines between requests, or everything after the framer gave up."""

    data: bytes


Event = Head | Body | End | Raw

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _TRAILER, _RAW = range(6)


def _parse_head(block: bytes) -> tuple[Head, int | None, bool, bool] | None:
    """Parse a head block: (head, content length, chunked, switches protocol) or ``None``."""
    lines = block.split(b"\r\n")
    match = _REQUEST_LINE.match(lines[0])
    if match is None:
        return None
    method, minor = match.group(1).decode("ascii"), match.group(3)
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            return None
        headers.setdefault(name.decode("latin-1").lower(), []).append(value.strip().decode("latin-1"))
    tokens = {tok.strip().lower() for val in headers.get("connection", []) for tok in val.split(",")}
    keep_alive = "close" not in tokens and (minor == b"1" or "keep-alive" in tokens)
    codings = [tok.strip().lower() for val in headers.get("transfer-encoding", []) for tok in val.split(",")]
    chunked = bool(codings) and codings[-1] == "chunked"
    length: int | None = None
    lengths = {val.strip() for val in headers.get("content-length", [])}
    if not chunked and lengths:
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            return None
        length = int(next(iter(lengths)))
    switches = method == "CONNECT" or ("upgrade" in tokens and "upgrade" in headers)
    expect = any(val.lower() == "100-continue" for val in headers.get("expect", []))
    head = Head(
        data=block,
        method=method,
        version=f"HTTP/1.{minor.decode()}",
        keep_alive=keep_alive,
        expect_continue=expect,
    )
    return head, length, chunked, switches


class RequestFramer:
    """Incremental HTTP/1.x request framer; see the module docstring for its rules and limits."""

    def __init__(self) -> None:
        self._state = _HEAD
        self._buffer = bytearray()
        self._remaining = 0
        self._switch_after = False

    @property
    def pending(self) -> bytes:
        """Bytes of an incomplete request head held back (flushed if the toxic is removed)."""
        return bytes(self._buffer)

    def feed(self, data: bytes) -> list[Event]:
        """Consume ``data``; return the events it completes (every byte appears exactly once)."""
        events: list[Event] = []
        view = memoryview(data)
        while view:
            if self._state == _RAW:
                events.append(Raw(bytes(view)))
                break
            if self._state == _HEAD:
                view = self._feed_head(view, events)
            elif self._state in (_LENGTH, _CHUNK_DATA):
                take = min(self._remaining, len(view))
                events.append(Body(bytes(view[:take])))
                view = view[take:]
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _CHUNK_SIZE if self._state == _CHUNK_DATA else _HEAD
                    if self._state == _HEAD:
                        self._finish(events)
            else:
                view = self._feed_line(view, events)
        return events

    def _finish(self, events: list[Event]) -> None:
        events.append(End())
        self._state = _RAW if self._switch_after else _HEAD

    def _give_up(self, events: list[Event]) -> None:
        if self._buffer:
            events.append(Raw(bytes(self._buffer)))
            self._buffer.clear()
        self._state = _RAW

    def _feed_head(self, view: memoryview, events: list[Event]) -> memoryview:
        if not self._buffer:
            blank = len(view) - len(bytes(view).lstrip(b"\r\n"))
            if blank:  # empty lines between requests: servers ignore them, forward as they are
                events.append(Raw(bytes(view[:blank])))
                view = view[blank:]
                if not view:
                    return view
        start = max(len(self._buffer) - 3, 0)
        self._buffer += view
        end = self._buffer.find(b"\r\n\r\n", start)
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                self._give_up(events)
            return view[len(view) :]
        block = bytes(self._buffer[: end + 4])
        rest = len(self._buffer) - (end + 4)
        self._buffer.clear()
        parsed = _parse_head(block)
        if parsed is None:
            self._buffer += block
            self._give_up(events)
            return view[len(view) - rest :]
        head, length, chunked, switches = parsed
        events.append(head)
        self._switch_after = switches
        if chunked:
            self._state = _CHUNK_SIZE
        elif length:
            self._state, self._remaining = _LENGTH, length
        else:
            self._finish(events)
        return view[len(view) - rest :]

    def _feed_line(self, view: memoryview, events: list[Event]) -> memoryview:
        newline = bytes(view).find(b"\n")
        if newline < 0:
            self._buffer += view
            events.append(Body(bytes(view)))
            if len(self._buffer) > MAX_HEAD:
                self._state = _RAW
            return view[len(view) :]
        self._buffer += view[: newline + 1]
        events.append(Body(bytes(view[: newline + 1])))
        line = bytes(self._buffer).strip()
        self._buffer.clear()
        if self._state == _TRAILER:
            if not line:
                self._finish(events)
        else:
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                self._state = _RAW
                return view[newline + 1 :]
            if size == 0:
                self._state = _TRAILER
            else:
                self._state, self._remaining = _CHUNK_DATA, size + 2
        return view[newline + 1 :]
