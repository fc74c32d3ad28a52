"""The typed client against a real in-process server (no mocks in place of the server)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from harness.errors import ProxyBadRequest, ProxyConflict, ProxyError, ProxyNotFound
from harness.faults.proxy.client import Proxy, ProxyClient, Toxic
from harness.faults.proxy.server import ProxyServer


@pytest.fixture
def client() -> Iterator[ProxyClient]:
    with ProxyServer(port=0, seed=1) as server, ProxyClient(server.url, timeout=5) as proxy_client:
        yield proxy_client


UPSTREAM = "127.0.0.1:9"


def test_proxy_lifecycle(client):
    assert client.version() == "0.1.0"
    created = client.create_proxy("db", "127.0.0.1:0", UPSTREAM)
    assert isinstance(created, Proxy) and created.enabled and created.port > 0
    assert client.get_proxy("db") == created
    assert client.proxies() == {"db": created}
    disabled = client.disable("db")
    assert not disabled.enabled and disabled.listen == created.listen
    assert client.enable("db").listen == created.listen
    moved = client.update_proxy("db", upstream="127.0.0.1:10")
    assert moved.upstream == "127.0.0.1:10"
    client.delete_proxy("db")
    assert client.proxies() == {}


def test_toxic_crud_and_heal(client):
    client.create_proxy("api", "127.0.0.1:0", UPSTREAM)
    toxic = client.add_toxic("api", "latency", {"latency": 50}, stream="upstream", toxicity=0.5)
    assert toxic == Toxic(
        name="latency_upstream",
        type="latency",
        stream="upstream",
        toxicity=0.5,
        attributes={"latency": 50, "jitter": 0},
    )
    updated = client.update_toxic("api", "latency_upstream", {"jitter": 5}, toxicity=1.0)
    assert updated.attributes == {"latency": 50, "jitter": 5} and updated.toxicity == 1.0
    assert client.toxics("api") == [updated]
    assert client.get_proxy("api").toxics == (updated,)
    client.remove_toxic("api", "latency_upstream")
    with client.toxic("api", "timeout", {"timeout": 0}, name="hole") as held:
        assert held.name == "hole" and [t.name for t in client.toxics("api")] == ["hole"]
    assert client.toxics("api") == []


def test_toxic_context_heals_on_error(client):
    client.create_proxy("p", "127.0.0.1:0", UPSTREAM)
    with pytest.raises(RuntimeError), client.toxic("p", "noop"):
        raise RuntimeError("scenario failed")
    assert client.toxics("p") == []


def test_down_context_reenables(client):
    client.create_proxy("d", "127.0.0.1:0", UPSTREAM)
    with client.down("d") as proxy:
        assert not proxy.enabled
    assert client.get_proxy("d").enabled


def test_populate_and_reset(client):
    proxies = client.populate(
        [
            {"name": "a", "listen": "127.0.0.1:0", "upstream": UPSTREAM},
            Proxy(name="b", listen="127.0.0.1:0", upstream=UPSTREAM, enabled=False),
        ]
    )
    assert [(p.name, p.enabled) for p in proxies] == [("a", True), ("b", False)]
    client.add_toxic("a", "noop")
    client.reset()
    assert all(p.enabled and not p.toxics for p in client.proxies().values())


def test_error_mapping(client):
    client.create_proxy("e", "127.0.0.1:0", UPSTREAM)
    with pytest.raises(ProxyNotFound) as missing:
        client.get_proxy("nope")
    assert missing.value.status == 404 and "proxy not found" in str(missing.value)
    with pytest.raises(ProxyConflict):
        client.create_proxy("e", "127.0.0.1:0", UPSTREAM)
    with pytest.raises(ProxyBadRequest, match="invalid toxic type"):
        client.add_toxic("e", "bogus")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ProxyError, match="address already in use") as clash:
            client.create_proxy("f", f"127.0.0.1:{taken.getsockname()[1]}", UPSTREAM)
    assert clash.value.status == 500 and type(clash.value) is ProxyError


def test_unreachable_server_is_proxy_error_from_the_cause():
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    with ProxyClient(f"http://127.0.0.1:{port}", timeout=2) as dead, pytest.raises(ProxyError) as info:
        dead.version()
    assert info.value.__cause__ is not None


def test_unknown_keys_are_ignored():
    data = {
        "name": "x",
        "listen": "l:1",
        "upstream": "u:1",
        "enabled": True,
        "Logger": {},
        "toxics": None,
        "new": 1,
    }
    assert Proxy.from_json(data) == Proxy(name="x", listen="l:1", upstream="u:1", enabled=True)
