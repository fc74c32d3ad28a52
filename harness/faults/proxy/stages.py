"""The runtime of each toxic on one direction of one connection (a *stage*).

A direction with toxics runs its chain on one worker thread (see :mod:`.pipe`): each chunk read
from the source is stamped with its arrival time and handed to the first active stage, which
passes it on with :meth:`StageHost.emit` (at once, later, in pieces, or never). Because the
stages compute *when* a chunk may leave from its timestamp, one thread reproduces Toxiproxy's
goroutine-per-stage pipeline: latency does not cap throughput, and two latency toxics add up.

Toxicity is drawn per (re)start of a stage, as in Toxiproxy: at connection start, when
the toxic is added or updated, and when the toxic following it is added or removed. All draws
come from one seeded :class:`Dice`, so ``--seed`` really decides them.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Protocol

from harness.faults.proxy.toxics import Attributes, Toxic

now = time.monotonic


class Chunk:
    """Bytes read from a source in one ``recv``, with the moment they arrived (monotonic seconds)."""

    __slots__ = ("data", "ts")

    def __init__(self, data: bytes, ts: float) -> None:
        self.data = data
        self.ts = ts


class Dice:
    """The one seeded random source of a proxy server (thread-safe)."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def random(self) -> float:
        """A uniform float in [0, 1)."""
        with self._lock:
            return self._random.random()

    def randrange(self, start: int, stop: int) -> int:
        """A uniform integer in [start, stop)."""
        with self._lock:
            return self._random.randrange(start, stop)


class StageHost(Protocol):
    """What a stage may do with the direction it runs in (implemented by ``Pipe``)."""

    dice: Dice

    def emit(self, stage: Stage, chunk: Chunk) -> None:
        """Hand ``chunk`` to the stage after ``stage`` (or write it to the destination)."""

    def sleep_until(self, stage: Stage, deadline: float) -> bool:
        """Wait until ``deadline``; ``False`` if the stage was restarted/removed or the link closed."""

    def close_after(self, stage: Stage) -> None:
        """End the stream from ``stage`` on: later stages see end-of-stream, then full teardown."""

    def answer_client(self, data: bytes) -> None:
        """Send ``data`` to the client as if the upstream had answered it (HTTP toxics)."""


class Stage:
    """A toxic's state on one link; subclasses override the hooks they need."""

    #: stays active whatever the per-restart toxicity draw (http_error draws per request)
    always_active = False

    def __init__(self, toxic: Toxic) -> None:
        self.toxic = toxic
        self.order = toxic.order
        self.attrs: Attributes = dict(toxic.attributes)
        self.active = False
        self.generation = 0
        self.removed = False

    def restart(self, dice: Dice) -> None:
        """(Re)start on this link: snapshot attributes, draw toxicity, reset transient state."""
        self.attrs = dict(self.toxic.attributes)
        self.active = self.always_active or dice.random() < self.toxic.toxicity
        self.generation += 1
        self.reset()

    def reset(self) -> None:
        """Reset per-start state (persistent state such as ``limit_data``'s counter stays)."""

    def int_attr(self, name: str) -> int:
        """An integer attribute (validated at the API, so always an int here)."""
        value = self.attrs[name]
        assert isinstance(value, int)
        return value

    def on_chunk(self, host: StageHost, chunk: Chunk) -> None:
        """Process one chunk; the default passes it on unchanged."""
        host.emit(self, chunk)

    def on_eof(self, host: StageHost) -> None:
        """End-of-stream reached this stage; return when it may travel on."""

    def deadline(self) -> float | None:
        """When :meth:`on_deadline` must run although no chunk arrived, if ever."""
        return None

    def on_deadline(self, host: StageHost) -> None:
        """Timer hook, called by the worker once :meth:`deadline` has passed."""

    def leftover(self) -> bytes:
        """Bytes held back inside the stage, flushed downstream when it is removed."""
        return b""


class LatencyStage(Stage):
    """Release each chunk at arrival + latency ± jitter, in order; the timestamp moves with it."""

    def on_chunk(self, host: StageHost, chunk: Chunk) -> None:
        delay = self.int_attr("latency")
        jitter = self.int_attr("jitter")
        if jitter > 0:
            delay += host.dice.randrange(-jitter, jitter)
        release = chunk.ts + delay / 1000.0
        if host.sleep_until(self, release):
            chunk.ts = max(chunk.ts, release)
        host.emit(self, chunk)


class BandwidthStage(Stage):
    """Pace bytes at ``rate`` KB/s (1 KB = 1000 B) in pieces of at most 100 ms; rate 0 stalls."""

    def reset(self) -> None:
        self._free_at = 0.0

    def on_chunk(self, host: StageHost, chunk: Chunk) -> None:
        rate = self.int_attr("rate")
        data = chunk.data
        if rate <= 0:
            host.sleep_until(self, float("inf"))
            host.emit(self, chunk)
            return
        piece_size = rate * 100
        while data:
            piece, data = data[:piece_size], data[piece_size:]
            self._free_at = max(self._free_at, now()) + len(piece) / (rate * 1000.0)
            if not host.sleep_until(self, self._free_at):
                host.emit(self, Chunk(piece + data, chunk.ts))
                return
            host.emit(self, Chunk(piece, chunk.ts))


class SlowCloseStage(Stage):
    """Pass data through; delay the end-of-stream by ``delay`` ms."""

    def on_eof(self, host: StageHost) -> None:
        host.sleep_until(self, now() + self.int_attr("delay") / 1000.0)


class TimeoutStage(Stage):
    """Discard data; with ``timeout`` > 0 close the stream after that much idle time."""

    def reset(self) -> None:
        self._last = now()

    def on_chunk(self, host: StageHost, chunk: Chunk) -> None:
        self._last = now()

    def deadline(self) -> float | None:
        timeout = self.int_attr("timeout")
        return self._last + timeout / 1000.0 if timeout > 0 else None

    def on_deadline(self, host: StageHost) -> None:
        host.close_after(self)


class ResetPeerStage(Stage):
    """Drop the first chunk (and all after it), wait ``timeout`` ms, then close the stream."""

    def reset(self) -> None:
        self._fire_at: float | None = None

    def on_chunk(self, host: StageHost, chunk: Chunk) -> None:
        if self._fire_at is None:
            self._fire_at = now() + self.int_attr("timeout") / 1000.0

    def on_eof(self, host: StageHost) -> None:
        host.sleep_until(self, now() + self.int_attr("timeout") / 1000.0)

    def deadline(self) -> float | None:
        return self._fire_at

    def on_deadline(self, host: StageHost) -> None:
        host.close_after(self)


def slice_bounds(length: int, average: int, variation: int, dice: Dice) -> list[int]:
    """Cut points of a chunk, as Toxiproxy's recursive split, but iterative and always in range."""
    cuts: list[int] = []
    pending = [(0, length)]
    while pending:
        start, end = pending.pop()
        if end - start - average <= variation or end - start < 2:
            cuts.append(end)
            continue
        middle = start + (end - start) // 2
        if variation > 0:
            middle += dice.randrange(-variation, variation)
        middle = min(max(middle, start + 1), end - 1)
        pending.append((middle, end))
        pending.append((start, middle))
    return cuts


class SlicerStage(Stage):
    """Cut chunks into pieces of about ``average_size`` bytes, ``delay`` µs apart."""

    def on_chunk(self, host: StageHost, chunk: Chunk) -> None:
        delay = self.int_attr("delay") / 1_000_000.0
        data = memoryview(chunk.data)
        start = 0
        for end in slice_bounds(
            len(data), self.int_attr("average_size"), self.int_attr("size_variation"), host.dice
        ):
            host.emit(self, Chunk(bytes(data[start:end]), chunk.ts))
            start = end
            if delay > 0 and not host.sleep_until(self, now() + delay):
                break
        if start < len(data):
            host.emit(self, Chunk(bytes(data[start:]), chunk.ts))


class LimitDataStage(Stage):
    """Forward at most ``bytes`` bytes per link in total, then close the stream."""

    def __init__(self, toxic: Toxic) -> None:
        super().__init__(toxic)
        self._sent = 0

    def on_chunk(self, host: StageHost, chunk: Chunk) -> None:
        remaining = max(self.int_attr("bytes") - self._sent, 0)
        if remaining < len(chunk.data):
            chunk = Chunk(chunk.data[:remaining], chunk.ts)
        if chunk.data:
            self._sent += len(chunk.data)
            host.emit(self, chunk)
        if self.int_attr("bytes") - self._sent <= 0:
            host.close_after(self)
