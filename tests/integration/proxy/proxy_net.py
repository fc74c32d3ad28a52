"""TCP peers and socket helpers shared by the fault proxy's integration tests."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

Handler = Callable[[socket.socket], None]


class TcpServer:
    """A threaded TCP server on 127.0.0.1:0 running ``handler(conn)`` per connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.received = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handler(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def echo_handler(server_ref: list[TcpServer]) -> Handler:
    def handle(conn: socket.socket) -> None:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            with server_ref[0].lock:
                server_ref[0].received += data
            conn.sendall(data)

    return handle


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    """A client connection to 127.0.0.1:port with a safety timeout on every operation."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        part = sock.recv(size - len(data))
        if not part:
            break
        data += part
    return bytes(data)


def recv_all(sock: socket.socket) -> bytes:
    """Read until EOF."""
    data = bytearray()
    while True:
        part = sock.recv(65536)
        if not part:
            return bytes(data)
        data += part
