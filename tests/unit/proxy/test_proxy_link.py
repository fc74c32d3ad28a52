"""The threaded connection's teardown: a connection with ``reset_peer`` closes with an RST, always.

Real loopback TCP sockets, no server: the connection is built directly so that a writer can be
held at the exact point that used to turn the RST into a FIN.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from harness.faults.proxy.link import Connection
from harness.faults.proxy.stages import Dice
from harness.faults.proxy.threads import ThreadPool
from harness.faults.proxy.toxics import TOXIC_TYPES, Direction, Toxic


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected loopback TCP sockets (an RST needs TCP; a socketpair would not do)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        outer = socket.create_connection(listener.getsockname())
        inner, _ = listener.accept()
    outer.settimeout(10)
    return outer, inner


@pytest.fixture
def pool() -> Iterator[ThreadPool]:
    threads = ThreadPool("test-link", spare=2)
    yield threads
    threads.close()


def test_abort_resets_even_when_a_writer_holds_its_lock(pool: ThreadPool) -> None:
    client_peer, client = tcp_pair()
    upstream_peer, upstream = tcp_pair()
    reset_peer = Toxic(
        name="r",
        type=TOXIC_TYPES["reset_peer"],
        stream="upstream",
        direction=Direction.UPSTREAM,
        toxicity=0.0,
        attributes={"timeout": 0},
    )
    closed = threading.Event()
    conn = Connection(
        client=client,
        upstream=upstream,
        chains={Direction.UPSTREAM: [reset_peer], Direction.DOWNSTREAM: []},
        dice=Dice(1),
        pool=pool,
        on_closed=lambda _conn: closed.set(),
    )
    conn.start()
    upstream_peer.sendall(b"hello")
    assert client_peer.recv(5) == b"hello"
    writer = conn.pipes[Direction.DOWNSTREAM]
    # a writer that has just sent and not yet released its lock (a busy machine delays it)
    with writer.write_lock:
        conn.abort()
        assert closed.wait(10)
    with contextlib.ExitStack() as stack:
        for sock in (client_peer, upstream_peer):
            stack.enter_context(sock)
        for peer in (client_peer, upstream_peer):
            with pytest.raises(ConnectionResetError):  # a FIN would read as b"" here
                peer.recv(100)
