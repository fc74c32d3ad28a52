"""The ``http_error`` toxic: answer a share of HTTP/1.x requests with an error, upstream untouched.

Toxiproxy works on bytes only, so "the provider answers 503 with ``Retry-After: 2`` to one call in
five" cannot be expressed with it. This toxic sits on the **upstream** stream, finds request
boundaries with :class:`~harness.faults.proxy.httpframing.RequestFramer`, and for each request
draws ``u`` from the server's seeded dice: if ``u < toxicity`` the request (head and body) is
dropped and the client gets the configured answer; otherwise the request is forwarded unchanged.
Unlike Toxiproxy's per-connection toxicity, the draw is **per request**.

Attributes: ``status`` (default 500), ``body`` (default a small JSON error; sent as
``application/json`` when it looks like JSON, else ``text/plain``), ``retry_after`` (seconds,
0 = no ``Retry-After`` header).

Limits (besides the framer's, see its module):

* the answer is sent as soon as the dropped request is complete; a client that *pipelines* (sends
  request 2 before the response to request 1 arrived) may see answers out of order. Ordinary
  keep-alive clients (requests, httpx, browsers, database drivers do not pipeline) are fine;
* a dropped request carrying ``Expect: 100-continue`` is answered right after its head, with
  ``Connection: close``, and the connection is then closed (its body may never come);
* a request announcing ``Connection: close`` or using HTTP/1.0 without keep-alive is answered
  with ``Connection: close`` and the connection is closed after the answer;
* HTTPS/TLS and HTTP/2 are not HTTP/1 text, so they pass through untouched.
"""

from __future__ import annotations

from http import HTTPStatus

from harness.faults.proxy.httpframing import Body, End, Head, Raw, RequestFramer
from harness.faults.proxy.stages import Chunk, Stage, StageHost
from harness.faults.proxy.toxics import Toxic


def build_response(*, status: int, body: str, retry_after: int, head: Head, close: bool) -> bytes:
    """The raw HTTP/1.1 answer sent to the client for a dropped request."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Injected Fault"
    payload = body.encode("utf-8")
    stripped = body.lstrip()
    content_type = "application/json" if stripped[:1] in ("{", "[") else "text/plain; charset=utf-8"
    lines = [
        f"HTTP/1.1 {status} {reason}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(payload)}",
    ]
    if retry_after > 0:
        lines.append(f"Retry-After: {retry_after}")
    lines.append("Connection: close" if close else "Connection: keep-alive")
    lines.append("X-Chaos-Audit-Fault: http_error")
    no_body = head.method == "HEAD" or status in (204, 304)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if no_body else payload)


class HttpErrorStage(Stage):
    """Drop a share of requests (drawn per request) and answer them; see the module docstring."""

    always_active = True

    def __init__(self, toxic: Toxic) -> None:
        super().__init__(toxic)
        self._framer = RequestFramer()
        self._dropping: Head | None = None
        self._closed = False

    def leftover(self) -> bytes:
        return self._framer.pending

    def on_chunk(self, host: StageHost, chunk: Chunk) -> None:
        if self._closed:
            return
        for event in self._framer.feed(chunk.data):
            if isinstance(event, Head):
                self._start_request(host, chunk, event)
            elif isinstance(event, Body | Raw):
                if self._dropping is None:
                    host.emit(self, Chunk(event.data, chunk.ts))
            elif isinstance(event, End) and self._dropping is not None:
                head, self._dropping = self._dropping, None
                self._answer(host, head, close=not head.keep_alive)
            if self._closed:
                return

    def _start_request(self, host: StageHost, chunk: Chunk, head: Head) -> None:
        if host.dice.random() >= self.toxic.toxicity:
            host.emit(self, Chunk(head.data, chunk.ts))
            return
        if head.expect_continue:
            self._answer(host, head, close=True)
            return
        self._dropping = head

    def _answer(self, host: StageHost, head: Head, *, close: bool) -> None:
        status, body, retry_after = self.attrs["status"], self.attrs["body"], self.attrs["retry_after"]
        assert isinstance(status, int) and isinstance(body, str) and isinstance(retry_after, int)
        response = build_response(status=status, body=body, retry_after=retry_after, head=head, close=close)
        host.answer_client(response)
        if close:
            self._closed = True
            host.close_after(self)
