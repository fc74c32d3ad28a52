"""The progress display: one line every few seconds (elapsed, round, ops, faults active, checks,
violations), plain text so it reads the same on a terminal, in a pipe and in a CI log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from harness.explore import faults as faults_mod
from harness.explore.runner import Counters

DEFAULT_EVERY_S = 5.0


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def line(counters: Counters, elapsed: float) -> str:
    session = counters.session
    active = faults_mod.active(session) if session is not None else []
    shown = ", ".join(active[:3]) + (", ..." if len(active) > 3 else "")
    return (
        f"[explore {clock(elapsed)}] round {counters.round} | ops {counters.ops} | "
        f"faults injected {counters.faults}, active {len(active)}{f' ({shown})' if active else ''} | "
        f"checks {counters.checks} | violations {counters.violations}"
    )


class Progress:
    """A daemon thread printing :func:`line` every ``every`` seconds until stopped."""

    def __init__(
        self, counters: Counters, say: Callable[[str], None], *, every: float = DEFAULT_EVERY_S
    ) -> None:
        self.counters = counters
        self.say = say
        self.every = every
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="explore-progress", daemon=True)

    def start(self) -> Progress:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def now(self) -> str:
        return line(self.counters, time.monotonic() - self.started)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.say(self.now())
            except Exception:  # a session closing under the display: skip one line
                continue
