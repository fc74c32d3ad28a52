"""The session's ``load RATE``: Locust creating one-item batches beside what the script does.

Its batches are not the session's (``wait done`` leaves them out), but every check sees them.
Starting returns once the load's first batch is in the database (where the states are sampled):
Locust takes a second or more to start, and a script's next line (a fault timed against the load,
in an explore reproducer) must meet the load already flowing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from harness.process.scratch import ScratchDir
from harness.session.grammar import CommandError
from harness.session.waits import pause

if TYPE_CHECKING:
    from harness.explore.load import Load
    from harness.session.engine import Session

#: how long ``load RATE`` waits for Locust's first batch (Locust imports for a second or more)
LOAD_START_TIMEOUT_S = 30.0


class SessionLoad:
    """The one load a session may have running (a new rate replaces it), and Locust's folder."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.running: Load | None = None
        self._dir: ScratchDir | None = None  #: Locust's log and stats, kept until the session closes

    def start(self, rate: float) -> None:
        """Start Locust at ``rate`` new batches per second (the caller stopped any running load)."""
        s = self.session
        if s.stack.api_url is None:
            raise CommandError("this stack has no api service to put load on")
        from harness.explore.load import Load  # the explore command's Locust runner

        self._dir = self._dir or ScratchDir("chaos-audit-load-")
        before = set(s.snapshot().batches)
        self.running = Load(s.target, s.stack.api_url, rate=rate, workers=0, out_dir=self._dir.path).start()
        if s.sampled:  # only the database shows the load's batches
            self._await_first_batch(before)

    def _await_first_batch(self, before: set[str]) -> None:
        """Until a batch that was not there before (nor the session's own) is sampled."""
        load, s = self.running, self.session
        assert load is not None
        deadline = time.monotonic() + LOAD_START_TIMEOUT_S
        while not set(s.snapshot().batches) - before - set(s.batches):
            gone = all(p.poll() is not None for p in load.procs)
            if gone or time.monotonic() >= deadline:
                log = load.out_dir / "load.log"
                tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
                self.stop()
                why = "Locust exited" if gone else f"no batch of the load within {LOAD_START_TIMEOUT_S:g}s"
                raise CommandError(f"load: {why}; Locust's log ends: {tail.strip() or '(empty)'}")
            pause(s, 0.05)

    def stop(self) -> list[str]:
        """Stop the running load, if any; what it sent."""
        if self.running is None:
            return []
        stats, self.running = self.running.stop(), None
        return [f"load stopped: {stats.line() if stats else 'no totals from Locust'}"]

    def close(self) -> None:
        """Stop the load and remove Locust's folder."""
        try:
            self.stop()
        finally:
            if self._dir is not None:
                self._dir.close()
