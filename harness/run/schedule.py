"""Which worker runs which scenario next in a parallel run (``chaos-audit run --jobs N``).

Pure bookkeeping, no processes: the pool (:mod:`harness.run.pool`) tells the schedule what its
workers did (ready, finished a scenario, exited) and asks what to do next; every decision is made
here, so it can be tested without a stack.

The rules:

* Scenarios that share the machine go first, the longest expected first (the catalogue's
  ``seconds``), so the run does not end waiting for one long scenario started last.
* A scenario the catalogue marks ``alone`` (a flood, a CPU-bound measurement) runs with nothing
  beside it: once no shared scenario is left to hand out, every worker that falls idle is closed
  (its stack stopped) except the last one, and the alone scenarios run one at a time on that one
  after all the others have exited.
* A worker is handed work only after it has collected the scenarios (its ``collected`` event), so
  a worker that dies while starting loses nothing. A worker that dies mid-scenario loses that
  scenario (the report names it as missing: a harness error, never retried behind the user's back).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from harness import catalog


@dataclass(frozen=True, kw_only=True)
class Unit:
    """One scenario to run: its pytest node id, audit id (may be empty) and how it may be placed."""

    nodeid: str
    id: str = ""
    alone: bool = False
    seconds: float = catalog.DEFAULT_SECONDS


def units_of(collected: Iterable[dict[str, object]]) -> list[Unit]:
    """Units from the plugin's ``collected`` event, with the catalogue's ``alone`` and ``seconds``."""
    units: list[Unit] = []
    for entry in collected:
        sid = str(entry.get("id") or "")
        known = catalog.entry(sid)
        units.append(
            Unit(
                nodeid=str(entry.get("nodeid")),
                id=sid,
                alone=known.alone if known else False,
                seconds=known.seconds if known else catalog.DEFAULT_SECONDS,
            )
        )
    return units


class State(Enum):
    STARTING = "starting"  #: launched, has not collected yet
    IDLE = "idle"
    BUSY = "busy"
    CLOSING = "closing"  #: told there is no more work; stopping its stack and exiting
    GONE = "gone"  #: exited


@dataclass(frozen=True)
class Run:
    """Hand ``unit`` to ``worker``."""

    worker: str
    unit: Unit


@dataclass(frozen=True)
class Close:
    """Tell ``worker`` there is no more work (it stops its stack and exits)."""

    worker: str


Action = Run | Close


class Schedule:
    """The plan of one parallel run; call :meth:`next_actions` after every change."""

    def __init__(self, units: Sequence[Unit], workers: Sequence[str]) -> None:
        order = sorted(range(len(units)), key=lambda i: (units[i].alone, -units[i].seconds, i))
        self.pending: list[Unit] = [units[i] for i in order]
        self.state: dict[str, State] = dict.fromkeys(workers, State.STARTING)
        self.running: dict[str, Unit] = {}
        self.lost: list[Unit] = []

    # -- what the workers did ------------------------------------------------------------------
    def ready(self, worker: str) -> None:
        """``worker`` has collected the scenarios and waits for work."""
        if self.state.get(worker) == State.STARTING:
            self.state[worker] = State.IDLE

    def finished(self, worker: str) -> None:
        """``worker`` ended the scenario it was given."""
        self.running.pop(worker, None)
        if self.state.get(worker) == State.BUSY:
            self.state[worker] = State.IDLE

    def gone(self, worker: str) -> Unit | None:
        """``worker`` exited; returns the scenario it lost, if it died in the middle of one."""
        self.state[worker] = State.GONE
        unit = self.running.pop(worker, None)
        if unit is not None:
            self.lost.append(unit)
        return unit

    # -- what to do next -----------------------------------------------------------------------
    @property
    def finished_all(self) -> bool:
        """Nothing left to hand out and nothing running (or no worker left to run it)."""
        alive = [w for w, s in self.state.items() if s != State.GONE]
        return not self.running and (not self.pending or not alive)

    def next_actions(self) -> list[Action]:
        """Decide (and record) what the workers do now; empty when they must wait."""
        actions: list[Action] = []
        for worker in self._in(State.IDLE):
            if self.pending and not self.pending[0].alone:
                actions.append(self._run(worker, self.pending[0]))
        if self.pending and not self.pending[0].alone:
            return actions  # shared work left, every worker busy
        if not self.pending or self._in(State.BUSY):
            # Nothing left, or only alone scenarios while others still run: whoever is idle goes
            # (a busy worker will be the one kept for the alone scenarios).
            closing = self._in(State.IDLE) + (self._in(State.STARTING) if not self.pending else [])
            return actions + [self._close(w) for w in closing]
        idle = self._in(State.IDLE)
        if not idle:
            return actions  # the workers are still starting: the first one ready is kept
        keeper = idle[0]
        actions += [self._close(w) for w in [*idle[1:], *self._in(State.STARTING)]]
        if self._in(State.CLOSING):
            return actions  # the alone scenario starts once the others have exited
        return [*actions, self._run(keeper, self.pending[0])]

    def _in(self, state: State) -> list[str]:
        return [w for w, s in self.state.items() if s == state]

    def _run(self, worker: str, unit: Unit) -> Run:
        self.state[worker] = State.BUSY
        self.running[worker] = unit
        self.pending.remove(unit)
        return Run(worker, unit)

    def _close(self, worker: str) -> Close:
        self.state[worker] = State.CLOSING
        return Close(worker)
