"""The data loop (connections without toxics) and its hand-over to the threaded toxic path.

The loop relays every connection that starts with no toxic; these tests push it where a loop can
go wrong (back-pressure with many connections at once, bytes it holds when a toxic arrives) and
check every byte, in order, on real TCP.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable

import pytest
from proxy_net import Handler, TcpServer, connect, recv_exact

from harness.faults.proxy.looplink import LoopLink
from harness.faults.proxy.server import ProxyServer
from harness.faults.proxy.toxics import Direction


def pattern(size: int, seed: int) -> bytes:
    """``size`` bytes where every 4-byte word is its own index (a lost or moved byte shows)."""
    words = size // 4
    return struct.pack(f"!{words}I", *((seed << 24 | index) & 0xFFFFFFFF for index in range(words)))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def only_loop_link(server: ProxyServer, name: str) -> LoopLink:
    """The proxy's one connection, once its accept thread has set it up (after the client's connect)."""
    proxy = server.proxies.get(name)
    wait_until(lambda: proxy.connection_count() == 1, "the proxy has set the connection up")
    (link,) = proxy.live_connections()
    assert isinstance(link, LoopLink)
    return link


def test_many_connections_relay_every_byte_both_ways(api, echo, server):
    port = api.proxy("many", echo.port)
    size = 2 * 1024 * 1024  # per connection and way: more than the loop's buffer, with back-pressure
    errors: list[BaseException] = []

    def one(seed: int) -> None:
        payload = pattern(size, seed)
        try:
            with connect(port, timeout=30) as sock:
                sender = threading.Thread(target=sock.sendall, args=(payload,))
                sender.start()
                echoed = recv_exact(sock, size)
                sender.join()
                assert echoed == payload, f"connection {seed}: bytes lost or reordered"
        except BaseException as exc:
            errors.append(exc)

    clients = [threading.Thread(target=one, args=(seed,)) for seed in range(12)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    assert not errors, errors
    assert echo.accepted == 12
    wait_until(lambda: server.proxies.get("many").connection_count() == 0, "every connection closed")


def test_first_toxic_keeps_the_bytes_the_loop_holds_in_order(
    api, server, tcp_server: Callable[[Handler], TcpServer]
):
    release, drained = threading.Event(), threading.Event()
    received = bytearray()

    def slow_sink(conn: socket.socket) -> None:
        release.wait(30)
        while data := conn.recv(1 << 20):
            received.extend(data)
        drained.set()

    upstream = tcp_server(slow_sink)
    port = api.proxy("handover", upstream.port)
    payload = pattern(32 * 1024 * 1024, 7)  # far more than the kernel buffers on the way hold
    with connect(port, timeout=30) as sock:

        def send_all_then_close() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send_all_then_close)
        sender.start()
        link = only_loop_link(server, "handover")
        wait_until(lambda: link.pending()[Direction.UPSTREAM] > 0, "the loop holds unsent bytes")
        api.toxic("handover", "latency", {"latency": 1}, stream="upstream")
        assert link.handed_over
        release.set()
        sender.join(30)
        assert not sender.is_alive()
        assert drained.wait(30)  # the client's end of stream reached the upstream after every byte
    assert bytes(received) == payload


def test_a_loop_connection_closing_ignores_a_new_toxic(api, echo, server):
    port = api.proxy("closing", echo.port)
    with connect(port) as sock:
        sock.sendall(b"x")
        assert recv_exact(sock, 1) == b"x"
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b""  # whole teardown after a half close (spec §4.2)
    api.toxic("closing", "latency", {"latency": 1})
    wait_until(lambda: server.proxies.get("closing").connection_count() == 0, "the connection closed")


def test_an_rst_connection_resets_even_while_its_writer_is_blocked(
    api, server, tcp_server: Callable[[Handler], TcpServer]
):
    stalled = threading.Event()

    def blast(conn: socket.socket) -> None:
        conn.settimeout(0.5)
        chunk = b"b" * 65536
        try:
            while True:
                conn.sendall(chunk)
        except TimeoutError:
            stalled.set()  # every buffer on the way is full: the proxy's writer waits in send
        conn.settimeout(10)
        while conn.recv(65536):
            pass

    upstream = tcp_server(blast)
    port = api.proxy("rst_blocked", upstream.port)
    api.toxic("rst_blocked", "reset_peer", {"timeout": 0}, toxicity=0)
    with connect(port, timeout=10) as sock:  # reads nothing until the proxy has closed it
        assert stalled.wait(30)
        api("PATCH", "/proxies/rst_blocked", json={"enabled": False})
        proxy = server.proxies.get("rst_blocked")
        wait_until(lambda: proxy.connection_count() == 0, "the blocked writer gave up and the link closed")
        with pytest.raises(ConnectionResetError):
            while sock.recv(1 << 20):
                pass
