"""A proxied connection with toxics: the two sockets and one :class:`Pipe` (thread) per direction.

Connections without toxics are relayed by the data loop instead (:mod:`.looplink`); this is the
path of every connection that has a toxic when it starts or gets its first one later.

Socket lifetime is the subtle part. A socket is never ``close()``d while another thread may still
be inside ``recv``/``send`` on it (the descriptor number could be reused by a new connection
under that thread's feet). Teardown therefore only ``shutdown()``s sockets, which wakes blocked
threads; the descriptors are closed by the last of the connection's threads on its way out.

Close flavour: if a ``reset_peer`` toxic is in either chain when the connection
starts, both sockets get ``SO_LINGER`` 0 and every close of this connection is an RST. For those,
teardown uses ``shutdown(SHUT_RD)`` (wakes readers, sends nothing) so that the final ``close()``
emits the RST instead of a FIN. ``SHUT_WR`` would wake a writer blocked in ``send`` but sends a
FIN, and whether a writer is blocked cannot be known without a race (it may hold its lock having
just sent), so these connections never block inside ``send``: they send with ``MSG_DONTWAIT``
and wait in ``poll`` on the socket *and* a wake-up pipe that :meth:`Connection.abort` writes to.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import threading
from collections.abc import Callable

from harness.faults.proxy.httpfault import HttpErrorStage
from harness.faults.proxy.pipe import Pipe
from harness.faults.proxy.stages import (
    BandwidthStage,
    Dice,
    LatencyStage,
    LimitDataStage,
    ResetPeerStage,
    SlicerStage,
    SlowCloseStage,
    Stage,
    TimeoutStage,
)
from harness.faults.proxy.threads import Task, ThreadPool
from harness.faults.proxy.toxics import Direction, Toxic

STAGE_CLASSES: dict[str, type[Stage]] = {
    "noop": Stage,
    "latency": LatencyStage,
    "bandwidth": BandwidthStage,
    "slow_close": SlowCloseStage,
    "timeout": TimeoutStage,
    "reset_peer": ResetPeerStage,
    "slicer": SlicerStage,
    "limit_data": LimitDataStage,
    "http_error": HttpErrorStage,
}

_LINGER_ZERO = struct.pack("ii", 1, 0)


def make_stage(toxic: Toxic) -> Stage:
    """A fresh runtime stage for ``toxic`` (one per connection and direction)."""
    return STAGE_CLASSES[toxic.type.name](toxic)


class Connection:
    """One client connection relayed to one upstream connection (see module docstring)."""

    def __init__(
        self,
        *,
        client: socket.socket,
        upstream: socket.socket,
        chains: dict[Direction, list[Toxic]],
        dice: Dice,
        pool: ThreadPool,
        on_closed: Callable[[Connection], None],
        backlogs: dict[Direction, bytes] | None = None,
    ) -> None:
        self.client = client
        self.upstream = upstream
        self._pool = pool
        self._on_closed = on_closed
        self._lock = threading.Lock()
        self._threads = 0
        self._aborted = False
        self._done = False
        self.rst = any(toxic.type.name == "reset_peer" for chain in chains.values() for toxic in chain)
        self._wake: tuple[int, int] | None = None
        if self.rst:
            self._wake = os.pipe()
            for sock in (client, upstream):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        backlogs = backlogs or {}
        self.pipes = {
            direction: Pipe(
                self,
                direction,
                source,
                dest,
                dice=dice,
                stages=[make_stage(toxic) for toxic in chains[direction]],
                backlog=backlogs.get(direction, b""),
            )
            for direction, source, dest in (
                (Direction.UPSTREAM, client, upstream),
                (Direction.DOWNSTREAM, upstream, client),
            )
        }
        self.pipes[Direction.UPSTREAM].reverse = self.pipes[Direction.DOWNSTREAM]
        self.pipes[Direction.DOWNSTREAM].reverse = self.pipes[Direction.UPSTREAM]

    def start(self) -> None:
        """Start relaying in both directions."""
        for pipe in self.pipes.values():
            pipe.start()

    def spawn(self, task: Task) -> None:
        """Run ``task`` on a pooled thread counted as one of this connection's threads."""
        with self._lock:
            self._threads += 1

        def run() -> None:
            try:
                task()
            finally:
                self._thread_done()

        self._pool.submit(run)

    def _thread_done(self) -> None:
        with self._lock:
            self._threads -= 1
            last = self._threads == 0
            if last:
                self._done = True
                if self._wake is not None:
                    os.close(self._wake[0])
                    os.close(self._wake[1])
        if last:
            for pipe in self.pipes.values():
                pipe.close()
            self.client.close()
            self.upstream.close()
            self._on_closed(self)

    def end_stream(self, pipe: Pipe) -> None:
        """``pipe``'s stream ended: close its destination (the other direction then follows)."""
        self._shutdown(pipe.dest)

    def abort(self) -> None:
        """Tear the connection down now (disable, delete, timeout removal, write error)."""
        with self._lock:
            if self._aborted or self._done:
                return
            self._aborted = True
            if self._wake is not None:  # wakes the RST connection's writers (see module docstring)
                os.write(self._wake[1], b"!")
        for pipe in self.pipes.values():
            pipe.close()
        for pipe in self.pipes.values():
            self._shutdown(pipe.dest)

    def _shutdown(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD if self.rst else socket.SHUT_RDWR)

    def sender(self, sock: socket.socket) -> Callable[[bytes | memoryview], None]:
        """The function that writes all of a chunk to ``sock`` (raises ``OSError`` on failure)."""
        if self._wake is None:
            return sock.sendall

        def send(data: bytes | memoryview) -> None:
            self._send_wakeable(sock, data)

        return send

    def _send_wakeable(self, sock: socket.socket, data: bytes | memoryview) -> None:
        """``sendall`` that :meth:`abort` can interrupt without a FIN (see module docstring)."""
        assert self._wake is not None
        view = memoryview(data)
        while view:
            if self._aborted:
                raise ConnectionAbortedError("connection aborted")
            try:
                sent = sock.send(view, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            view = view[sent:]
            if view:
                poller = select.poll()
                poller.register(sock, select.POLLOUT)
                poller.register(self._wake[0], select.POLLIN)
                poller.poll()

    # -- chain changes (called by the proxy, under its lock) -----------------------------------

    def add_stage(self, direction: Direction, stage: Stage) -> None:
        """Append ``stage`` to ``direction``'s chain (see :meth:`Pipe.add_stage`)."""
        self.pipes[direction].add_stage(stage)

    def update_stage(self, direction: Direction, toxic: Toxic) -> None:
        """Restart ``toxic``'s stage in ``direction`` (see :meth:`Pipe.update_stage`)."""
        self.pipes[direction].update_stage(toxic)

    def remove_stage(self, direction: Direction, toxic: Toxic) -> None:
        """Remove ``toxic``'s stage from ``direction`` (see :meth:`Pipe.remove_stage`)."""
        self.pipes[direction].remove_stage(toxic)
