"""The proxy server: the HTTP API transport and the lifecycle of everything it owns.

The API is served by the standard library's ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive): it
is a control plane of a few requests per second, and keeping it dependency-free keeps
``chaos-audit proxy`` quick to start. The data path does not go through it at all.

:class:`ProxyServer` can run in-process (tests, the harness) or as the ``chaos-audit proxy``
process (:mod:`.cli`); :meth:`ProxyServer.close` closes the API socket, every listener and every
connection, which is what SIGINT/SIGTERM trigger.

The whole API is a control API (it switches outages on), so with a ``token`` every request must
carry it (:mod:`harness.faults.control_token`); the proxied listeners are data and never ask.
Without a token the API may only bind a loopback address.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.faults.control_token import UNAUTHORIZED_MESSAGE, WWW_AUTHENTICATE, authorized, server_token
from harness.faults.proxy.api import Api, Response, dispatch
from harness.faults.proxy.collection import ProxyCollection
from harness.faults.proxy.loop import DataLoop
from harness.faults.proxy.loop import available as loop_available
from harness.faults.proxy.model import Runtime
from harness.faults.proxy.stages import Dice
from harness.faults.proxy.threads import ThreadPool

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024
#: a request without the right token; not a Toxiproxy answer, so plain JSON rather than its quirks
UNAUTHORIZED = Response(
    status=401,
    body=json.dumps({"error": UNAUTHORIZED_MESSAGE, "status": 401}).encode("utf-8"),
    headers=(("WWW-Authenticate", WWW_AUTHENTICATE),),
)


class _Handler(BaseHTTPRequestHandler):
    """Adapts ``http.server`` requests to :func:`~harness.faults.proxy.api.dispatch`."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections are closed, like Go's IdleTimeout
    disable_nagle_algorithm = True  # small answers must not wait for a delayed ACK (40 ms)
    wbufsize = 64 * 1024  # head and body leave in one send (flushed after each request)
    server: _ApiHttpServer

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "bad request body")
            self.close_connection = True
            return
        token = self.server.token
        if token is not None and not authorized(self.headers.get("Authorization"), token):
            # the body was read above, so the keep-alive connection stays usable after the 401
            self._send(UNAUTHORIZED)
            return
        response = dispatch(
            self.server.api, self.command, self.path, body, self.headers.get("User-Agent", "")
        )
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response_only(response.status)
        self.send_header("Date", email.utils.formatdate(usegmt=True))
        if response.content_type is not None:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.status not in (204, 304):
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # any method: the router answers 404/405 like mux does
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("api: " + format, *args)


class _ApiHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: Api, token: str | None) -> None:
        self.api = api
        self.token = token
        super().__init__(address, _Handler)


class ProxyServer:
    """A Toxiproxy-compatible server: API on ``host:port``, proxies created through it.

    ``token``: the bearer token every API request must carry (None: no check, loopback only; a
    non-loopback ``host`` without one is a :class:`~harness.errors.ConfigError`, raised before
    anything is bound).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8474,
        seed: int | None = None,
        token: str | None = None,
    ) -> None:
        token = server_token(host, token, what="proxy API")
        self.runtime = Runtime(
            dice=Dice(seed),
            pool=ThreadPool("proxy-data"),
            loop=DataLoop() if loop_available() else None,
        )
        self.proxies = ProxyCollection(self.runtime)
        try:
            self._api = Api(self.proxies)
            self._http = _ApiHttpServer((host, port), self._api, token)
        except OSError as exc:
            self._close_runtime()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", field="port") from exc
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def requires_token(self) -> bool:
        """True when every API request must carry the control token."""
        return self._http.token is not None

    @property
    def address(self) -> tuple[str, int]:
        """The API's bound (host, port); useful with ``port=0``."""
        host, port = self._http.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:8474``."""
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> ProxyServer:
        """Serve the API on a daemon thread; returns ``self`` for chaining."""
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.1})
        self._thread.daemon = True
        self._thread.name = "proxy-api"
        self._thread.start()
        return self

    def populate_file(self, path: Path) -> list[str]:
        """Apply a ``/populate``-format JSON file (``--config``) with exactly the API's rules.

        Errors are returned rather than raised: like Toxiproxy, a bad config is logged and the
        server keeps running with whatever could be applied.
        """
        try:
            body = path.read_bytes()
        except OSError as exc:
            return [f"cannot read config {path}: {exc.strerror or exc}"]
        answer = self._api.populate({}, body)
        if answer.status == 201:
            return []
        try:
            message = json.loads(answer.body)["error"]
        except (ValueError, KeyError):
            message = answer.body.decode("utf-8", errors="replace")
        return [f"config {path}: {message}"]

    def close(self) -> None:
        """Stop the API and close every listener and connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            stopper = threading.Thread(target=self._http.shutdown, name="proxy-api-stop", daemon=True)
            stopper.start()
            # wake the accept loop now instead of at its next poll (saves up to 0.1 s per close)
            with contextlib.suppress(OSError):
                socket.create_connection(self.address, timeout=0.5).close()
            stopper.join()
        self._http.server_close()
        self.proxies.stop_all()
        self._close_runtime()

    def _close_runtime(self) -> None:
        self.runtime.pool.close()
        if self.runtime.loop is not None:
            self.runtime.loop.close()

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
