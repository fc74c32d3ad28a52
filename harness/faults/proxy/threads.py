"""A pool of pre-started daemon threads for the data path.

Starting a thread costs 130-170 µs on the machines this runs on (measured), and every proxied
connection with toxics needs two of them (connections without toxics run on the data loop, see
:mod:`.loop`): paid on the accept path, that alone would exceed Toxiproxy's whole added connect
time (~230 µs). Handing a task to an idle, already running thread costs ~7 µs.
A spawner thread keeps a few spare threads ready so the accept path never starts one itself;
threads idle for :data:`RETIRE_AFTER` seconds beyond that spare count exit, so a burst of
connections does not pin its threads (and their receive buffers) forever.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Task = Callable[[], None]
RETIRE_AFTER = 30.0


class ThreadPool:
    """Run tasks on daemon threads, keeping ``spare`` idle threads ready."""

    def __init__(self, name: str, spare: int = 8) -> None:
        self._name = name
        self._spare = spare
        self._tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads = 0
        self._closed = False
        self._want_more = threading.Event()
        self._spawner = threading.Thread(target=self._spawn_loop, name=f"{name}-spawner", daemon=True)
        self._spawner.start()
        self._want_more.set()

    def submit(self, task: Task) -> None:
        """Run ``task`` on an idle thread (immediately when one is ready, else as soon as spawned)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("thread pool is closed")
            self._idle -= 1
            short = self._idle < self._spare
        self._tasks.put(task)
        if short:
            self._want_more.set()

    def close(self) -> None:
        """Stop idle threads; busy threads finish their task and then exit."""
        with self._lock:
            self._closed = True
            count = self._threads
        self._want_more.set()
        for _ in range(count):
            self._tasks.put(None)

    def _spawn_loop(self) -> None:
        while True:
            self._want_more.wait()
            self._want_more.clear()
            while True:
                with self._lock:
                    if self._closed or self._idle >= self._spare:
                        break
                    self._idle += 1
                    self._threads += 1
                    number = self._threads
                threading.Thread(target=self._work, name=f"{self._name}-{number}", daemon=True).start()
            if self._closed:
                return

    def _work(self) -> None:
        while True:
            try:
                task = self._tasks.get(timeout=RETIRE_AFTER)
            except queue.Empty:
                with self._lock:
                    if self._idle > self._spare:
                        self._idle -= 1
                        self._threads -= 1
                        return
                continue
            if task is None:
                return
            try:
                task()
            except Exception:  # a data-path bug must not kill the pool thread silently
                log.exception("unexpected error in %s task", self._name)
            finally:
                with self._lock:
                    self._idle += 1
