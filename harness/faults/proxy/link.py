"""A proxied connection: the client socket, the upstream socket, and one :class:`Pipe` per direction.

Socket lifetime is the subtle part. A socket is never ``close()``d while another thread may still
be inside ``recv``/``send`` on it (the descriptor number could be reused by a new connection
under that thread's feet). Teardown therefore only ``shutdown()``s sockets, which wakes blocked
threads; the descriptors are closed by the last of the connection's threads on its way out.

Close flavour (spec §4.2, §5.6): if a ``reset_peer`` toxic is in either chain when the connection
starts, both sockets get ``SO_LINGER`` 0 and every close of this connection is an RST. For those,
teardown uses ``shutdown(SHUT_RD)`` (wakes readers, sends nothing) so that the final ``close()``
emits the RST instead of a FIN; a socket whose writer is blocked also gets ``SHUT_WR``.
"""

from __future__ import annotations

import contextlib
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
    ) -> None:
        self.client = client
        self.upstream = upstream
        self._pool = pool
        self._on_closed = on_closed
        self._lock = threading.Lock()
        self._threads = 0
        self._aborted = False
        self.rst = any(toxic.type.name == "reset_peer" for chain in chains.values() for toxic in chain)
        if self.rst:
            for sock in (client, upstream):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        up_stages = [make_stage(toxic) for toxic in chains[Direction.UPSTREAM]]
        down_stages = [make_stage(toxic) for toxic in chains[Direction.DOWNSTREAM]]
        self.pipes = {
            Direction.UPSTREAM: Pipe(self, Direction.UPSTREAM, client, upstream, dice=dice, stages=up_stages),
            Direction.DOWNSTREAM: Pipe(
                self, Direction.DOWNSTREAM, upstream, client, dice=dice, stages=down_stages
            ),
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
            for pipe in self.pipes.values():
                pipe.close()
            self.client.close()
            self.upstream.close()
            self._on_closed(self)

    def end_stream(self, pipe: Pipe) -> None:
        """``pipe``'s stream ended: close its destination (the other direction then follows)."""
        self._shutdown(pipe.dest, pipe)

    def abort(self) -> None:
        """Tear the connection down now (disable, delete, timeout removal, write error)."""
        with self._lock:
            if self._aborted:
                return
            self._aborted = True
        for pipe in self.pipes.values():
            pipe.close()
        for pipe in self.pipes.values():
            self._shutdown(pipe.dest, pipe)

    def _shutdown(self, sock: socket.socket, writer: Pipe) -> None:
        how = socket.SHUT_RDWR
        if self.rst and not writer.write_lock.locked():
            how = socket.SHUT_RD
        with contextlib.suppress(OSError):
            sock.shutdown(how)
