"""The ecosystem client ``toxiproxy-python`` drives the server like it drives Toxiproxy."""

from __future__ import annotations

import time

import pytest
from proxy_net import connect, recv_all, recv_exact

toxiproxy = pytest.importorskip("toxiproxy")


@pytest.fixture
def toxi(server):
    host, port = server.address
    client = toxiproxy.Toxiproxy()
    client.update_api_consumer(host, port)
    return client


def test_create_toxic_disable_destroy(toxi, echo):
    assert toxi.running()
    assert b'"version"' in toxi.version()
    proxy = toxi.create(upstream=f"127.0.0.1:{echo.port}", name="eco")
    port = int(proxy.listen.rsplit(":", 1)[1])
    assert set(toxi.proxies()) == {"eco"}

    proxy.add_toxic(type="latency", attributes={"latency": 100})
    assert set(proxy.toxics()) == {"latency_downstream"}
    assert proxy.get_toxic("latency_downstream").attributes == {"latency": 100, "jitter": 0}
    with connect(port) as sock:
        start = time.monotonic()
        sock.sendall(b"hi")
        assert recv_exact(sock, 2) == b"hi"
        assert time.monotonic() - start >= 0.095
    proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}

    with connect(port) as sock:
        # a round trip first: a connection still in the listener's backlog would be reset, not closed
        sock.sendall(b"up")
        assert recv_exact(sock, 2) == b"up"
        with proxy.down():
            assert recv_all(sock) == b""
            with pytest.raises(ConnectionRefusedError):
                connect(port)
    with connect(port) as sock:
        sock.sendall(b"back")
        assert recv_exact(sock, 4) == b"back"

    assert toxi.reset()
    toxi.destroy(proxy)
    assert toxi.proxies() == {}


def test_errors_map_to_its_exceptions(toxi, echo):
    from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

    proxy = toxi.create(upstream=f"127.0.0.1:{echo.port}", name="err")
    with pytest.raises(ProxyExists):
        toxi.create(upstream=f"127.0.0.1:{echo.port}", name="err")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="bandwidth", attributes={"rate": -1})
    with pytest.raises(NotFound):
        proxy.destroy_toxic("missing")


def test_client_side_populate(toxi, echo):
    created = toxi.populate([{"name": "pop", "upstream": f"127.0.0.1:{echo.port}", "listen": "127.0.0.1:0"}])
    assert [proxy.name for proxy in created] == ["pop"]
