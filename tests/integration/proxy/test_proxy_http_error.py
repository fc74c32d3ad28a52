"""The ``http_error`` toxic: answers a share of HTTP requests itself, the upstream never sees them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from proxy_net import connect, recv_all

from harness.faults.proxy.server import ProxyServer


class Upstream(ThreadingHTTPServer):
    """A keep-alive HTTP/1.1 server recording every request it gets and every connection."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []
        self.connections = 0
        super().__init__(("127.0.0.1", 0), _Recorder)


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def _answer(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            body = bytearray()
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = bytearray(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.server.seen.append((self.command, self.path, bytes(body)))
        payload = f"upstream:{self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_every_request_is_answered_with_the_status_and_retry_after(api, upstream):
    port = api.proxy("http", upstream.server_address[1])
    api.toxic("http", "http_error", {"status": 503, "retry_after": 2, "body": "busy"}, stream="upstream")
    with requests.Session() as session:
        for _ in range(3):
            answer = session.post(f"http://127.0.0.1:{port}/work", data=b"payload", timeout=5)
            assert answer.status_code == 503
            assert answer.headers["Retry-After"] == "2"
            assert answer.text == "busy"
    assert upstream.seen == []


def test_default_attributes(api, upstream):
    api.proxy("defaults", upstream.server_address[1])
    toxic = api.toxic("defaults", "http_error", {}, stream="upstream")
    assert toxic["attributes"]["status"] == 500 and toxic["attributes"]["retry_after"] == 0
    port = int(api("GET", "/proxies/defaults").json()["listen"].rsplit(":", 1)[1])
    answer = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
    assert answer.status_code == 500 and "Retry-After" not in answer.headers
    assert answer.headers["Content-Type"] == "application/json" and "error" in answer.json()


def test_toxicity_zero_passes_everything_through(api, upstream):
    port = api.proxy("pass", upstream.server_address[1])
    api.toxic("pass", "http_error", {"status": 500}, stream="upstream", toxicity=0)
    with requests.Session() as session:
        for index in range(3):
            answer = session.get(f"http://127.0.0.1:{port}/item/{index}", timeout=5)
            assert answer.status_code == 200 and answer.text == f"upstream:/item/{index}"
    assert [path for _, path, _ in upstream.seen] == ["/item/0", "/item/1", "/item/2"]


def test_share_of_keep_alive_requests_with_bodies(api, upstream):
    port = api.proxy("mixed", upstream.server_address[1])
    api.toxic("mixed", "http_error", {"status": 429, "retry_after": 1}, stream="upstream", toxicity=0.5)
    failed, passed = [], []
    with requests.Session() as session:
        for index in range(40):
            url = f"http://127.0.0.1:{port}/r/{index}"
            if index % 2:
                answer = session.post(
                    url, data=iter([b"chunk-%d-" % index, b"end"]), timeout=5
                )  # chunked body
            else:
                answer = session.post(url, data=b"body-%d" % index, timeout=5)
            (failed if answer.status_code == 429 else passed).append(index)
            if answer.status_code == 200:
                assert answer.text == f"upstream:/r/{index}"
    assert failed and passed  # a share, drawn per request
    assert [path for _, path, _ in upstream.seen] == [f"/r/{index}" for index in passed]
    for _, path, body in upstream.seen:
        index = int(path.rsplit("/", 1)[1])
        assert body == (b"chunk-%d-end" % index if index % 2 else b"body-%d" % index)
    assert upstream.connections == 1  # one keep-alive connection all along


def test_connection_close_request_is_answered_then_closed(api, upstream):
    port = api.proxy("close", upstream.server_address[1])
    api.toxic("close", "http_error", {"status": 502}, stream="upstream")
    with connect(port) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        answer = recv_all(sock)
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"Connection: close\r\n" in answer
    assert upstream.seen == []


def test_same_seed_same_choices(upstream):
    def choices() -> list[int]:
        with ProxyServer(port=0, seed=99) as server, requests.Session() as session:
            body = {
                "name": "s",
                "listen": "127.0.0.1:0",
                "upstream": f"127.0.0.1:{upstream.server_address[1]}",
            }
            port = int(session.post(f"{server.url}/proxies", json=body).json()["listen"].rsplit(":", 1)[1])
            toxic = {"type": "http_error", "stream": "upstream", "toxicity": 0.5}
            session.post(f"{server.url}/proxies/s/toxics", json=toxic)
            with requests.Session() as client:
                return [client.get(f"http://127.0.0.1:{port}/", timeout=5).status_code for _ in range(20)]

    first, second = choices(), choices()
    assert first == second
    assert set(first) == {200, 500}
