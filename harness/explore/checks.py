"""Which checks run when: mid-fault (continuously) and at the end of a round (after the quiet period).

A check may run mid-fault only if no correct target can violate it while a fault is active:

* an impossible state is a violation whenever it is seen: a result without output, a completed
  batch with failed items, two committed results for one item, an item completed twice, a
  transition the state machine forbids, a batch roll-up its items contradict, calls for one item
  under different idempotency keys, a re-sent create that started a second batch;
* "stuck" is not: a paused worker's item stays ``processing`` with a silent worker until its
  lease is taken over, and nothing can finish while the database is down. ``stuck_processing``,
  ``processing_with_dead_worker`` and ``all_terminal`` run only after the round's final heal and
  its quiet period.

A round with a provider trickle ends differently: a trickling answer outlives its heal (the
provider keeps sending, a byte at a time, and no read timeout fires), and the target promises
only that its batch deadline stops it. Its quiet period lasts past that deadline, and
``stuck_processing`` (processing longer than ``max_duration_s``, shorter than the deadline) does
not run: ``all_terminal`` after the deadline is the promise. That quiet period lasts its whole
bound, not until the round's own batches are done: the load's items may still be trickling, and
would hold every worker into the next round.

Not checked at all: the provider ledger's "one successful call per completed item". A worker
paused after the provider answered, then taken over, makes an honest second call with the same
idempotency key (at-least-once towards the provider, deduplicated by the key, which
``same_idempotency_key`` checks); exactly-once is checked where it is promised, on the committed
results (``duplicate_outputs``, ``completed_twice``, ``completed_without_output``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.checkers.result import CheckResult, Validity
from harness.explore.nemesis import TRICKLE
from harness.explore.schedule import Schedule
from harness.session.checks import run_checks
from harness.session.engine import Session

MID_FAULT = (
    "completed_without_output",
    "completed_batch_with_failed_items",
    "duplicate_outputs",
    "completed_twice",
    "illegal_transitions",
    "batch_rollup_mismatch",
    "same_idempotency_key",
    "idempotent_create",
)
END_STATE = (*MID_FAULT, "stuck_processing", "processing_with_dead_worker")
#: the quiet period's own check: every item of the round's batches terminal (``wait done``)
ALL_TERMINAL = "all_terminal"
#: checks of "nothing stuck": in a replayed script the quiet period's ``wait done`` fails first
LIVENESS = (ALL_TERMINAL, "stuck_processing", "processing_with_dead_worker")
#: checks that see an item only once it has been stuck past a threshold (the target's
#: ``max_duration_s``, a stale heartbeat): a replay waits that long before its end-state checks
THRESHOLDED = ("stuck_processing", "processing_with_dead_worker")
#: a modest pace: one round of queries every 2 s does not distort a target doing real work
DEFAULT_INTERVAL_S = 2.0


@dataclass(frozen=True, kw_only=True)
class Violation:
    """A check that failed, when (seconds into the round) and in which phase."""

    check: str
    at: float
    phase: str  #: "mid-fault" or "end-state"
    result: CheckResult

    def summary(self) -> str:
        return f"{self.check} ({self.phase}, {self.at:.1f}s into the round): {self.result.summary()}"


def end_checks(schedule: Schedule) -> tuple[str, ...]:
    """The end-state checks of a round (``schedule.end_checks`` when it names them)."""
    if schedule.end_checks:
        return schedule.end_checks
    if trickled(schedule):
        return tuple(n for n in END_STATE if n != "stuck_processing")
    return END_STATE


def trickled(schedule: Schedule) -> bool:
    return any(f.inject.startswith(TRICKLE) for f in schedule.faults)


def chosen(found: list[Violation]) -> Violation | None:
    """The violation a round is reported (and shrunk) for: the first mid-fault one, else the first
    safety one at the end, else a liveness one (stuck items are often a consequence, not a cause)."""
    mid = [v for v in found if v.phase == "mid-fault"]
    safety = [v for v in found if v.check not in LIVENESS]
    ranked = mid or safety or found
    return ranked[0] if ranked else None


def run_now(session: Session, names: tuple[str, ...]) -> list[CheckResult]:
    """The named checks on the session's stack now (the database's faults make SQL ones unknown)."""
    down = [n for n, t in session.faults.open_faults() if t == "db" and n in ("db_kill", "db_pause")]
    return run_checks(
        session.stack,
        session.snapshot(),
        db_down=down[0] if down else None,
        names=names,
        retriggers=list(session.retriggers),
    )


def violations(results: list[CheckResult], *, at: float, phase: str) -> list[Violation]:
    return [
        Violation(check=r.name, at=at, phase=phase, result=r) for r in results if r.valid is Validity.FALSE
    ]


class ContinuousChecker:
    """A thread running the mid-fault checks every ``interval`` until stopped or violated."""

    def __init__(
        self,
        session: Session,
        *,
        started: float,
        interval: float = DEFAULT_INTERVAL_S,
        on_checked: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.session = session
        self.started = started
        self.interval = interval
        self.on_checked = on_checked
        self.found: list[Violation] = []
        self.violated = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="explore-checker", daemon=True)

    def start(self) -> ContinuousChecker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            results = run_now(self.session, MID_FAULT)
            self.on_checked(len(results))
            found = violations(results, at=time.monotonic() - self.started, phase="mid-fault")
            if found:
                self.found += found
                self.violated.set()
                return
