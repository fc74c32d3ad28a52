"""Fixtures for the fault proxy's integration tests: a real server and real TCP peers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests
from proxy_net import Handler, TcpServer, echo_handler

from harness.faults.proxy.server import ProxyServer


@pytest.fixture
def tcp_server() -> Iterator[Callable[[Handler], TcpServer]]:
    """Factory of TCP servers with a custom per-connection handler; all closed at teardown."""
    servers: list[TcpServer] = []

    def make(handler: Handler) -> TcpServer:
        server = TcpServer(handler)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def echo(tcp_server: Callable[[Handler], TcpServer]) -> TcpServer:
    """An echo server that also records every byte it received."""
    ref: list[TcpServer] = []
    server = tcp_server(echo_handler(ref))
    ref.append(server)
    return server


@pytest.fixture
def server() -> Iterator[ProxyServer]:
    """An in-process proxy server (API on a free port, seed 1234)."""
    with ProxyServer(host="127.0.0.1", port=0, seed=1234) as proxy_server:
        yield proxy_server


@dataclass
class Api:
    """``requests`` against the server, returning raw responses (no error raising)."""

    url: str
    session: requests.Session

    def __call__(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def proxy(self, name: str, upstream_port: int, **fields: object) -> int:
        """Create a proxy on 127.0.0.1:0 and return its bound port."""
        body = {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{upstream_port}", **fields}
        answer = self("POST", "/proxies", json=body)
        assert answer.status_code == 201, answer.text
        return int(answer.json()["listen"].rsplit(":", 1)[1])

    def toxic(
        self, proxy: str, type: str, attributes: dict[str, object], **fields: object
    ) -> dict[str, object]:
        body = {"type": type, "attributes": attributes, **fields}
        answer = self("POST", f"/proxies/{proxy}/toxics", json=body)
        assert answer.status_code == 200, answer.text
        result: dict[str, object] = answer.json()
        return result


@pytest.fixture
def api(server: ProxyServer) -> Iterator[Api]:
    with requests.Session() as session:
        yield Api(server.url, session)
