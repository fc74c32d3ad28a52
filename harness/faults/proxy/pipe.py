"""One direction of a proxied connection: read the source, run the toxic chain, write the destination.

Two paths, chosen per chunk:

* **fast path** — while the direction's chain is empty, the reader thread ``recv_into``s a
  reused 64 KiB buffer (per pool thread) and ``sendall``s it straight to the destination: no copy into Python
  objects, no queue, no second thread. This is what keeps an idle proxy near the physical limit.
* **toxic path** — once a toxic is added (to a new or a live connection) the reader stamps each
  chunk and queues it for a worker thread that runs the :mod:`stages` of the chain. When the
  chain is empty again and the queue drained, the worker hands the direction back to the fast
  path. The switch never reorders or drops bytes: the worker re-enables the fast path only with
  the lock held and the queue empty, and the reader only queues with the lock held.

A connection that starts without toxics is relayed by the data loop (:mod:`.looplink`) and comes
here only when its first toxic is added; what the loop had read but not yet written arrives as the
pipe's *backlog*, written before anything else by whichever of its threads writes first.

End of stream travels through the chain like data (``slow_close`` may hold it); when it reaches
the end, the destination socket is shut down completely, which makes the other direction's
reader see EOF in turn: a half close by either side tears down the whole connection.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from typing import TYPE_CHECKING

from harness.faults.proxy.stages import Chunk, Dice, Stage, now
from harness.faults.proxy.toxics import Direction, Toxic

if TYPE_CHECKING:
    from harness.faults.proxy.link import Connection

#: fast-path receive buffer (64 KiB measured as fast as 256 KiB here, at a quarter of the memory)
BUFFER_SIZE = 64 * 1024
#: bytes queued for the toxic chain before the reader stops reading (back-pressure to the sender)
QUEUE_LIMIT = 4 * 1024 * 1024
#: longest single wait, so that huge durations never overflow the lock timeout
MAX_WAIT = 3600.0

_STOP, _CHUNK, _EOF, _DEADLINE, _FLUSH = range(5)
_thread_state = threading.local()


def _read_buffer() -> bytearray:
    """The calling pool thread's receive buffer: allocated once, reused by every reader it runs."""
    buffer: bytearray | None = getattr(_thread_state, "buffer", None)
    if buffer is None:
        buffer = _thread_state.buffer = bytearray(BUFFER_SIZE)
    return buffer


class _Signals:
    """The conditions of the toxic path, created only when a direction first leaves the fast path."""

    def __init__(self, lock: threading.Lock) -> None:
        self.data = threading.Condition(lock)  #: the worker waits for chunks (or timers)
        self.space = threading.Condition(lock)  #: the reader waits for room in the queue
        self.change = threading.Condition(lock)  #: sleeping stages wait for a restart/removal

    def wake_all(self) -> None:
        self.data.notify_all()
        self.space.notify_all()
        self.change.notify_all()


class Pipe:
    """Relay ``source`` → ``dest`` through the toxic chain of ``direction`` (see module docstring)."""

    def __init__(
        self,
        conn: Connection,
        direction: Direction,
        source: socket.socket,
        dest: socket.socket,
        *,
        dice: Dice,
        stages: list[Stage],
        backlog: bytes = b"",
    ) -> None:
        self.conn = conn
        self.direction = direction
        self.source = source
        self.dest = dest
        self.dice = dice
        self.write_lock = threading.Lock()
        self._send = conn.sender(dest)
        self._backlog = backlog
        self.reverse: Pipe | None = None
        self._lock = threading.Lock()
        self._signals_: _Signals | None = None
        self._stages = stages
        self._queue: deque[Chunk | None] = deque()
        self._queued = 0
        self._removed: list[Stage] = []
        self._fast = not stages
        self._worker_started = False
        self._ended = False
        self._closed = False
        for stage in stages:
            stage.restart(dice)

    @property
    def _signals(self) -> _Signals:
        """The toxic path's conditions (call with the lock held)."""
        if self._signals_ is None:
            self._signals_ = _Signals(self._lock)
        return self._signals_

    # -- threads -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reader (and the worker when the chain is not empty)."""
        self.conn.spawn(self._read_loop)
        with self._lock:
            start_worker = bool(self._stages) and not self._worker_started
            self._worker_started = self._worker_started or start_worker
        if start_worker:
            self.conn.spawn(self._work_loop)

    def _read_loop(self) -> None:
        if self._backlog and not self._write(b""):
            return
        buffer = _read_buffer()
        view = memoryview(buffer)
        recv_into = self.source.recv_into
        while True:
            try:
                size = recv_into(buffer)
            except OSError:
                size = 0
            if not size:
                break
            if self._fast:
                if not self._write(view[:size]):
                    return
            else:
                self._enqueue(Chunk(bytes(view[:size]), now()))
        self._enqueue(None)

    def _write(self, data: bytes | memoryview) -> bool:
        try:
            with self.write_lock:
                if self._backlog:  # whichever thread writes first sends the handed-over bytes first
                    backlog, self._backlog = self._backlog, b""
                    self._send(backlog)
                if data:
                    self._send(data)
        except OSError:
            self.conn.abort()
            return False
        return True

    def _enqueue(self, chunk: Chunk | None) -> None:
        with self._lock:
            if self._closed or self._ended:
                return
            if not self._fast:
                while self._queued >= QUEUE_LIMIT and not (self._closed or self._ended):
                    self._signals.space.wait()
                if not (self._closed or self._ended):
                    self._queue.append(chunk)
                    self._queued += len(chunk.data) if chunk is not None else 0
                    self._signals.data.notify()
                return
        if chunk is None:
            self._finish()
        else:
            self._write(chunk.data)

    def _work_loop(self) -> None:
        while True:
            job, payload = self._next_job()
            if job == _STOP:
                return
            if job == _CHUNK:
                assert isinstance(payload, Chunk)
                self.emit(None, payload)
            elif job == _EOF:
                self._end_after(None)
            elif job == _DEADLINE:
                assert isinstance(payload, Stage)
                payload.on_deadline(self)
            else:
                assert isinstance(payload, list)
                for stage in payload:
                    leftover = stage.leftover()
                    if leftover:
                        self.emit(stage, Chunk(leftover, now()))

    def _next_job(self) -> tuple[int, Chunk | Stage | list[Stage] | None]:
        with self._lock:
            while True:
                if self._closed:
                    return _STOP, None
                if self._removed:
                    removed, self._removed = self._removed, []
                    return _FLUSH, removed
                if self._queue:
                    chunk = self._queue.popleft()
                    if chunk is None:
                        return _EOF, None
                    self._queued -= len(chunk.data)
                    self._signals.space.notify()
                    if self._ended:
                        continue
                    return _CHUNK, chunk
                if self._ended:
                    return _STOP, None
                moment, wake = now(), float("inf")
                for stage in self._stages:
                    deadline = stage.deadline() if stage.active else None
                    if deadline is not None and deadline <= moment:
                        return _DEADLINE, stage
                    if deadline is not None:
                        wake = min(wake, deadline)
                if not self._stages:
                    self._fast = True
                self._signals.data.wait(min(wake - moment, MAX_WAIT) if wake != float("inf") else None)

    # -- StageHost -----------------------------------------------------------------------------

    def emit(self, stage: Stage | None, chunk: Chunk) -> None:
        """Hand ``chunk`` to the first active stage after ``stage``, or write it out."""
        if self._ended or self._closed:
            return
        after = -1 if stage is None else stage.order
        for candidate in self._stages:
            if candidate.order > after and candidate.active:
                candidate.on_chunk(self, chunk)
                return
        self._write(chunk.data)

    def sleep_until(self, stage: Stage, deadline: float) -> bool:
        """Wait until ``deadline`` unless the stage is restarted or removed, or the link closes."""
        generation = stage.generation
        with self._lock:
            while True:
                if self._closed or stage.removed or stage.generation != generation:
                    return False
                remaining = deadline - now()
                if remaining <= 0:
                    return True
                self._signals.change.wait(min(remaining, MAX_WAIT))

    def close_after(self, stage: Stage) -> None:
        """A stage ended the stream: later stages see end-of-stream, then the link is torn down."""
        self._end_after(stage)

    def answer_client(self, data: bytes) -> None:
        """Queue ``data`` on the opposite (downstream) direction, through its toxics."""
        target = self.reverse if self.direction is Direction.UPSTREAM else self
        if target is not None:
            target.inject(data)

    def inject(self, data: bytes) -> None:
        """Insert bytes into this direction as if they had been read from the source."""
        with self._lock:
            self._fast = False
            start_worker = not self._worker_started
            self._worker_started = True
        if start_worker:
            self.conn.spawn(self._work_loop)
        self._enqueue(Chunk(data, now()))

    def _end_after(self, stage: Stage | None) -> None:
        with self._lock:
            if self._ended or self._closed:
                return
            self._ended = True
            if self._signals_ is not None:
                self._signals_.space.notify_all()
        after = -1 if stage is None else stage.order
        for candidate in list(self._stages):
            if candidate.order > after and candidate.active:
                candidate.on_eof(self)
        self._finish()

    def _finish(self) -> None:
        with self._lock:
            self._ended = True
            if self._signals_ is not None:
                self._signals_.space.notify_all()
        self.conn.end_stream(self)

    # -- chain changes (called by the proxy, under its lock) -----------------------------------

    def add_stage(self, stage: Stage) -> None:
        """Append a stage; the previous last stage restarts (new toxicity draw), as in Toxiproxy."""
        with self._lock:
            if self._stages:
                self._restart(self._stages[-1])
            stage.restart(self.dice)
            self._stages = [*self._stages, stage]
            self._fast = False
            start_worker = not self._worker_started and not self._closed
            self._worker_started = self._worker_started or start_worker
            self._signals.data.notify()
        if start_worker:
            self.conn.spawn(self._work_loop)

    def update_stage(self, toxic: Toxic) -> None:
        """Restart the stage of ``toxic`` with its new attributes and a new toxicity draw."""
        with self._lock:
            for stage in self._stages:
                if stage.toxic is toxic:
                    self._restart(stage)
            self._signals.data.notify()

    def remove_stage(self, toxic: Toxic) -> None:
        """Remove the stage of ``toxic``; what it held is flushed on, the stage before restarts."""
        with self._lock:
            stages = self._stages
            for index, stage in enumerate(stages):
                if stage.toxic is toxic:
                    stage.removed = True
                    self._stages = stages[:index] + stages[index + 1 :]
                    if index > 0:
                        self._restart(stages[index - 1])
                    self._removed.append(stage)
                    self._signals.change.notify_all()
                    self._signals.data.notify()
                    return

    def _restart(self, stage: Stage) -> None:
        stage.restart(self.dice)
        self._signals.change.notify_all()

    def close(self) -> None:
        """The connection is torn down: stop waiting, drop what is queued."""
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._queued = 0
            if self._signals_ is not None:
                self._signals_.wake_all()
