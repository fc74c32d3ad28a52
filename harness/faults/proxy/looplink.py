"""A proxied connection without toxics, relayed by the data loop until its first toxic arrives.

Each direction (a *flow*) reads what its source has into the loop's buffer and sends it to its
destination at once; bytes the destination cannot take yet become the flow's ``pending`` bytes,
and the flow stops reading its source until they are gone (back-pressure, as a blocking
``sendall`` would give). The epoll mask of each socket follows from the two flows that use it:
``IN`` while the flow reading it may read, ``OUT`` while the flow writing to it has pending bytes.
A socket that is not being read is watched edge-triggered, so that a hang-up or error on it
(which epoll always reports) wakes the loop once rather than at every wait.

Close semantics are those of the threaded path (:mod:`.link`): the end of a source is
passed on after its pending bytes by shutting the destination down completely, which makes the
other flow read an end in turn; a failed send, :meth:`LoopLink.abort` (disable, delete, timeout
removal) shut both sockets down and close them. A connection here never started with a
``reset_peer`` toxic, so its closes are FINs, as on the threaded path.

**Hand-over.** Toxics run on the threaded path, unchanged. When the first toxic is added to a live
connection, :meth:`LoopLink.add_stage` asks the loop thread to stop watching both sockets, make
them blocking and start a :class:`~harness.faults.proxy.link.Connection` on them, each direction
taking the bytes its flow still had pending as a backlog written before anything else. All of
that happens in the loop thread between two events of the link, so no byte is lost or reordered,
and it is done before the API call that added the toxic returns. The connection stays threaded
afterwards (a toxic-free threaded direction relays on its own reader thread, see :mod:`.pipe`).
A connection already closing (a source has ended: a flow reads only when it has nothing pending,
so an ended source has passed its end on at once) is left to close, as a threaded connection
ignores a toxic added after its end of stream.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import threading
from collections.abc import Callable

from harness.faults.proxy.link import Connection
from harness.faults.proxy.loop import EDGE, ERRORS, IN, OUT, DataLoop, LoopClosed
from harness.faults.proxy.stages import Dice, Stage
from harness.faults.proxy.threads import ThreadPool
from harness.faults.proxy.toxics import Direction, Toxic

#: events on which a flow tries to send its pending bytes / to read (an error surfaces in the call)
_WAKE_FLUSH = OUT | ERRORS
_WAKE_READ = IN | ERRORS


class _State(enum.Enum):
    OPEN = "open"
    ABORTED = "aborted"  #: sockets shut down by another thread, closing at the loop's next turn
    CLOSED = "closed"
    HANDED_OVER = "handed over"  #: relayed by a threaded Connection from now on


_OPEN = _State.OPEN  #: looked up once, not at every event


class _Flow:
    """One direction: ``source`` → ``dest``, with the bytes ``dest`` has not taken yet."""

    __slots__ = ("dest", "direction", "finished", "pending", "source")

    def __init__(self, direction: Direction, source: socket.socket, dest: socket.socket) -> None:
        self.direction = direction
        self.source = source
        self.dest = dest
        self.pending: memoryview | None = None
        self.finished = False  #: the source ended (or failed) and ``dest`` is shut down

    @property
    def readable(self) -> bool:
        return self.pending is None and not self.finished


class LoopLink:
    """A toxic-free connection on the data loop (see module docstring)."""

    def __init__(
        self,
        *,
        client: socket.socket,
        upstream: socket.socket,
        loop: DataLoop,
        dice: Dice,
        pool: ThreadPool,
        on_closed: Callable[[LoopLink], None],
    ) -> None:
        self.client = client
        self.upstream = upstream
        self._loop = loop
        self._dice = dice
        self._pool = pool
        self._on_closed = on_closed
        self._lock = threading.Lock()  #: guards the state against abort() from other threads
        self._state = _State.OPEN
        self._threaded: Connection | None = None
        up = _Flow(Direction.UPSTREAM, client, upstream)
        down = _Flow(Direction.DOWNSTREAM, upstream, client)
        self._flows = (up, down)
        client_fd, upstream_fd = client.fileno(), upstream.fileno()
        self._fds = (client_fd, upstream_fd)
        #: per socket: (the flow that reads it, the flow that writes to it)
        self._flows_of = {client_fd: (up, down), upstream_fd: (down, up)}
        self._masks = {client_fd: IN, upstream_fd: IN}
        self._buffer = loop.buffer
        self._view = loop.view

    def start(self) -> None:
        """Start relaying: the loop thread registers both sockets."""
        self.client.setblocking(False)
        self.upstream.setblocking(False)
        if not self._loop.call_soon(self._register):
            self.close_now()  # the server is closing

    def _register(self) -> None:
        if self._state is not _State.OPEN:
            self.close_now()
            return
        for fd in self._fds:
            self._loop.register(fd, self, IN)

    # -- loop thread ---------------------------------------------------------------------------

    def on_event(self, fd: int, events: int) -> None:
        """A socket of this link is ready: flush what waits for it, read what it has.

        The hot path of the proxy (every message passes here), hence the inlined checks.
        """
        if self._state is not _OPEN:
            self.close_now()
            return
        reader, writer = self._flows_of[fd]
        if events & _WAKE_FLUSH and writer.pending is not None:
            self._flush(writer)
            if self._state is not _OPEN:
                return
        if events & _WAKE_READ and reader.pending is None and not reader.finished:
            self._read(reader)

    def _read(self, flow: _Flow) -> None:
        try:
            size = flow.source.recv_into(self._buffer)
        except BlockingIOError:
            return
        except OSError:
            size = 0
        if not size:
            self._finish(flow)
            return
        try:
            sent = flow.dest.send(self._view[:size])
        except BlockingIOError:
            sent = 0
        except OSError:
            self._abort_now()
            return
        if sent < size:
            flow.pending = memoryview(bytes(self._view[sent:size]))
            self._update_masks()

    def _flush(self, flow: _Flow) -> None:
        pending = flow.pending
        assert pending is not None
        try:
            sent = flow.dest.send(pending)
        except BlockingIOError:
            return
        except OSError:
            self._abort_now()
            return
        if sent < len(pending):
            flow.pending = pending[sent:]
            return
        flow.pending = None
        self._update_masks()

    def _finish(self, flow: _Flow) -> None:
        """The source ended: shut the destination down (the other flow then reads an end too)."""
        flow.finished = True
        with contextlib.suppress(OSError):
            flow.dest.shutdown(socket.SHUT_RDWR)
        if all(each.finished for each in self._flows):
            self.close_now()
        else:
            self._update_masks()

    def _update_masks(self) -> None:
        for fd in self._fds:
            reader, writer = self._flows_of[fd]
            mask = (IN if reader.readable else EDGE) | (OUT if writer.pending is not None else 0)
            if mask != self._masks[fd]:
                self._masks[fd] = mask
                self._loop.modify(fd, mask)

    def _abort_now(self) -> None:
        with self._lock:
            if self._state is _State.OPEN:
                self._state = _State.ABORTED
                self._shutdown_both()
        self.close_now()

    def _shutdown_both(self) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close_now(self) -> None:
        """Stop watching and close both sockets (loop thread; idempotent)."""
        with self._lock:
            if self._state in (_State.CLOSED, _State.HANDED_OVER):
                return
            self._state = _State.CLOSED
        for fd in self._fds:
            self._loop.unregister(fd)
        self.client.close()
        self.upstream.close()
        self._on_closed(self)

    def _hand_over(self, direction: Direction, stage: Stage) -> None:
        """Move the connection to the threaded path with ``stage`` added (see module docstring)."""
        with self._lock:
            if self._state is not _State.OPEN or any(flow.finished for flow in self._flows):
                return  # closing: a toxic added now has nothing left to act on
            self._state = _State.HANDED_OVER
            for fd in self._fds:
                self._loop.unregister(fd)
            self.client.setblocking(True)
            self.upstream.setblocking(True)
            backlogs = {
                flow.direction: bytes(flow.pending) if flow.pending is not None else b""
                for flow in self._flows
            }
            conn = self._threaded = Connection(
                client=self.client,
                upstream=self.upstream,
                chains={Direction.UPSTREAM: [], Direction.DOWNSTREAM: []},
                dice=self._dice,
                pool=self._pool,
                on_closed=lambda _conn: self._on_closed(self),
                backlogs=backlogs,
            )
        conn.add_stage(direction, stage)
        conn.start()

    # -- any thread ----------------------------------------------------------------------------

    @property
    def handed_over(self) -> bool:
        """True once the connection runs on the threaded path (it had a toxic added)."""
        return self._threaded is not None

    def pending(self) -> dict[Direction, int]:
        """Bytes read but not yet written, per direction (asks the loop thread; for tests)."""

        def count() -> dict[Direction, int]:
            return {flow.direction: len(flow.pending or b"") for flow in self._flows}

        return self._loop.call(count)

    def abort(self) -> None:
        """Tear the connection down now: both peers see the close before this returns."""
        with self._lock:
            threaded = self._threaded
            if threaded is None:
                if self._state is not _State.OPEN:
                    return
                self._state = _State.ABORTED
                self._shutdown_both()
        if threaded is not None:
            threaded.abort()
        elif not self._loop.call_soon(self.close_now):
            self.close_now()  # the loop is gone (server closing): nothing else uses the sockets

    def add_stage(self, direction: Direction, stage: Stage) -> None:
        """Add a toxic's stage: hands the connection over to the threaded path on the first one."""
        if self._threaded is None:
            with contextlib.suppress(LoopClosed):  # the server is closing: so is this connection
                self._loop.call(lambda: self._hand_over(direction, stage))
            return
        self._threaded.add_stage(direction, stage)

    def update_stage(self, direction: Direction, toxic: Toxic) -> None:
        """Restart ``toxic``'s stage (only a handed-over connection has stages)."""
        if self._threaded is not None:
            self._threaded.update_stage(direction, toxic)

    def remove_stage(self, direction: Direction, toxic: Toxic) -> None:
        """Remove ``toxic``'s stage (only a handed-over connection has stages)."""
        if self._threaded is not None:
            self._threaded.remove_stage(direction, toxic)
