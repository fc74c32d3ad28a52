"""Each toxic's effect on real TCP traffic through the proxy (spec §4-5).

Timing assertions are lower bounds only (a toxic must delay *at least* this much); where an
upper bound is needed to tell "applied" from "not applied", the test uses an effect that is not
timing (data arrives or not, bytes counted) instead.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from proxy_net import Handler, TcpServer, connect, recv_all, recv_exact


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    start = time.monotonic()
    sock.sendall(payload)
    assert recv_exact(sock, len(payload)) == payload
    return time.monotonic() - start


def test_no_toxic_relays_both_ways(api, echo):
    port = api.proxy("plain", echo.port)
    with connect(port) as sock:
        payload = bytes(range(256)) * 4096  # 1 MiB, larger than any buffer
        sock.sendall(payload[:1000])
        assert recv_exact(sock, 1000) == payload[:1000]
    assert echo.accepted == 1


def test_latency_adds_at_least_the_delay_each_way(api, echo):
    port = api.proxy("lat", echo.port)
    api.toxic("lat", "latency", {"latency": 100}, stream="downstream")
    api.toxic("lat", "latency", {"latency": 50}, stream="upstream")
    with connect(port) as sock:
        assert round_trip(sock) >= 0.145


def test_two_latency_toxics_in_one_direction_add_up(api, echo):
    port = api.proxy("lat2", echo.port)
    api.toxic("lat2", "latency", {"latency": 80}, name="a")
    api.toxic("lat2", "latency", {"latency": 80}, name="b")
    with connect(port) as sock:
        assert round_trip(sock) >= 0.155


def test_latency_applies_to_a_live_connection_and_removal_restores_it(api, echo):
    port = api.proxy("live", echo.port)
    with connect(port) as sock:
        round_trip(sock)
        api.toxic("live", "latency", {"latency": 120})
        assert round_trip(sock) >= 0.115
        assert api("DELETE", "/proxies/live/toxics/latency_downstream").status_code == 204
        round_trip(sock)  # still works after going back to the fast path


def test_bandwidth_limits_the_rate(api, tcp_server: Callable[[Handler], TcpServer]):
    size = 40_000

    def blast(conn: socket.socket) -> None:
        conn.sendall(b"b" * size)
        conn.recv(1)

    upstream = tcp_server(blast)
    port = api.proxy("bw", upstream.port)
    api.toxic("bw", "bandwidth", {"rate": 100})  # 100 KB/s = 100_000 B/s → 0.4 s
    with connect(port) as sock:
        start = time.monotonic()
        assert recv_exact(sock, size) == b"b" * size
        assert time.monotonic() - start >= 0.3


def test_bandwidth_zero_stalls_until_removed_and_loses_nothing(api, echo):
    port = api.proxy("stall", echo.port)
    api.toxic("stall", "bandwidth", {"rate": 0})
    with connect(port, timeout=0.3) as sock:
        sock.sendall(b"held back")
        with pytest.raises(TimeoutError):
            sock.recv(100)
        api("DELETE", "/proxies/stall/toxics/bandwidth_downstream")
        sock.settimeout(5)
        assert recv_exact(sock, 9) == b"held back"


def test_timeout_zero_blackholes_and_removal_closes(api, echo):
    port = api.proxy("hole", echo.port)
    api.toxic("hole", "timeout", {"timeout": 0}, stream="upstream")
    with connect(port, timeout=0.3) as sock:
        sock.sendall(b"lost")
        with pytest.raises(TimeoutError):
            sock.recv(100)
        assert echo.received == b""
        sock.settimeout(5)
        assert api("DELETE", "/proxies/hole/toxics/timeout_upstream").status_code == 204
        assert recv_all(sock) == b""  # the connection that had it is closed
    with connect(port) as sock:  # new connections are normal again
        round_trip(sock)


def test_timeout_positive_closes_after_idle_time(api, echo):
    port = api.proxy("idle", echo.port)
    api.toxic("idle", "timeout", {"timeout": 200})
    with connect(port) as sock:
        start = time.monotonic()
        assert recv_all(sock) == b""
        assert time.monotonic() - start >= 0.18


def test_reset_peer_resets_the_client(api, echo):
    port = api.proxy("rst", echo.port)
    api.toxic("rst", "reset_peer", {"timeout": 0})
    with connect(port) as sock:
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            while sock.recv(100):
                pass


def test_limit_data_truncates_to_exactly_n_bytes(api, tcp_server: Callable[[Handler], TcpServer]):
    def talk(conn: socket.socket) -> None:
        conn.sendall(b"x" * 5000)
        conn.recv(1)

    upstream = tcp_server(talk)
    port = api.proxy("limit", upstream.port)
    api.toxic("limit", "limit_data", {"bytes": 1000})
    with connect(port) as sock:
        assert recv_all(sock) == b"x" * 1000


def test_slicer_delivers_every_byte_in_several_pieces(api, echo):
    port = api.proxy("slice", echo.port)
    api.toxic("slice", "slicer", {"average_size": 10, "size_variation": 5, "delay": 5000})
    payload = bytes(range(200))
    with connect(port) as sock:
        sock.sendall(payload)
        pieces = []
        while sum(map(len, pieces)) < len(payload):
            pieces.append(sock.recv(65536))
            assert pieces[-1]
    assert b"".join(pieces) == payload
    assert len(pieces) >= 5


def test_slow_close_delays_the_close(api, tcp_server: Callable[[Handler], TcpServer]):
    closed_at: list[float] = []

    def close_at_once(conn: socket.socket) -> None:
        conn.sendall(b"bye")
        closed_at.append(time.monotonic())

    upstream = tcp_server(close_at_once)
    port = api.proxy("slow", upstream.port)
    api.toxic("slow", "slow_close", {"delay": 200})
    with connect(port) as sock:
        assert recv_all(sock) == b"bye"
        eof_at = time.monotonic()
    assert eof_at - closed_at[0] >= 0.18


def test_toxicity_zero_never_applies(api, echo):
    port = api.proxy("never", echo.port)
    api.toxic("never", "timeout", {"timeout": 0}, toxicity=0)
    for _ in range(5):
        with connect(port) as sock:
            round_trip(sock)


def test_disable_drops_live_connections_and_refuses_new_ones(api, echo):
    port = api.proxy("down", echo.port)
    with connect(port) as sock:
        round_trip(sock)
        answer = api("PATCH", "/proxies/down", json={"enabled": False})
        assert answer.json()["enabled"] is False
        assert answer.json()["listen"] == f"127.0.0.1:{port}"
        assert recv_all(sock) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(port)
    assert api("PATCH", "/proxies/down", json={"enabled": True}).status_code == 200
    with connect(port) as sock:  # same port again
        round_trip(sock)


def test_half_close_tears_down_the_whole_connection(api, echo):
    port = api.proxy("half", echo.port)
    with connect(port) as sock:
        round_trip(sock)
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b""


def test_unreachable_upstream_closes_the_client(api):
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        dead_port = spare.getsockname()[1]
    port = api.proxy("dead", dead_port)
    with connect(port) as sock:
        assert recv_all(sock) == b""


def test_delete_proxy_closes_connections(api, echo, server):
    port = api.proxy("gone", echo.port)
    with connect(port) as sock:
        round_trip(sock)
        assert api("DELETE", "/proxies/gone").status_code == 204
        assert recv_all(sock) == b""


def test_reset_peer_added_to_a_live_connection_closes_with_fin(api, echo):
    port = api.proxy("rst_live", echo.port)
    with connect(port) as sock:
        round_trip(sock)
        api.toxic("rst_live", "reset_peer", {"timeout": 50}, stream="upstream")
        sock.sendall(b"dropped")
        assert recv_all(sock) == b""  # EOF, not ECONNRESET: no SO_LINGER 0 after the start
    assert echo.received == b"ping"


def test_reset_peer_with_toxicity_zero_still_resets_closes(api, echo):
    port = api.proxy("rst_zero", echo.port)
    api.toxic("rst_zero", "reset_peer", {"timeout": 0}, toxicity=0)
    with connect(port) as sock:
        round_trip(sock)  # the toxic never applies ...
        api("PATCH", "/proxies/rst_zero", json={"enabled": False})
        with pytest.raises(ConnectionResetError):  # ... but any close is an RST (issue #603)
            while sock.recv(100):
                pass
