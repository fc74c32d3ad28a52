"""Run one round's schedule on a live stack: its lines through a session, checked as it goes.

The lines run one after the other (each after its gap), exactly as ``chaos-audit session
--script`` runs them, while the :class:`~harness.explore.checks.ContinuousChecker` runs the
mid-fault checks. A mid-fault violation cuts the round short. Whatever happens, the round ends
the same way: heal everything, the quiet period (until every item of the round's batches is
terminal, at most ``settle_s``), then the end-state checks.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.explore import checks as checks_mod
from harness.explore import faults as faults_mod
from harness.explore.checks import ContinuousChecker, Violation
from harness.explore.schedule import Schedule
from harness.session import view
from harness.session.engine import Session
from harness.session.grammar import CommandError, Names, parse
from harness.stack.base import Stack

QUIET_POLL_S = 0.25


@dataclass(kw_only=True)
class Counters:
    """What the progress display shows; updated by the runner and the checker thread."""

    ops: int = 0
    faults: int = 0
    checks: int = 0
    violations: int = 0
    round: int = 0
    session: Session | None = None


@dataclass(kw_only=True)
class RoundResult:
    """How a round went: its violations (mid-fault first), commands that failed, its session."""

    schedule: Schedule
    violations: list[Violation] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    session: Session | None = None
    #: the provider's ledger at the end of the round (for the report's timeline)
    ledger: list[dict[str, object]] = field(default_factory=list)
    #: the round's item states just before each fault line ran (:meth:`Schedule.with_effects`)
    observed: dict[tuple[str, int], Counter[str]] = field(default_factory=dict)

    @property
    def violated(self) -> bool:
        return bool(self.violations)

    def first(self) -> Violation | None:
        return self.violations[0] if self.violations else None


def run_round(
    stack: Stack,
    schedule: Schedule,
    *,
    counters: Counters | None = None,
    interval: float = checks_mod.DEFAULT_INTERVAL_S,
    stop: Callable[[], bool] = lambda: False,
    keep_session: bool = False,
) -> RoundResult:
    """Run ``schedule`` on ``stack``; the session is closed unless ``keep_session`` (the report's)."""
    counters = counters or Counters()
    counters.round = schedule.round
    session = Session(stack, seed=schedule.seed)
    counters.session = session
    names = Names(services=tuple(stack.target.services), links=tuple(stack.target.links))
    started = time.monotonic()
    result = RoundResult(schedule=schedule, session=session)

    def checked(n: int) -> None:
        counters.checks += n

    checker = ContinuousChecker(session, started=started, interval=interval, on_checked=checked).start()
    try:
        for gap, line, tag in schedule.tagged_steps():
            if checker.violated.wait(gap) or stop():
                break
            cmd = parse(line, names)
            assert cmd is not None
            if tag is not None:
                result.observed[tag] = session.own_snapshot().item_states()
            try:
                session.run(cmd)
            except CommandError as exc:
                result.failed.append(f"{line}: {exc}")
            if line.startswith(("kill", "pause", "partition", "latency", "provider", "restart")):
                counters.faults += 1
            elif not line.startswith(("heal", "wait", "load")):  # heals, pacing and load are neither
                counters.ops += 1
    finally:
        checker.stop()
        _observe_cut(session, result)
        result.violations += checker.found
        errors = faults_mod.heal_everything(session)
        result.failed += [f"heal all: {e}" for e in errors]
    if not stop():
        result.violations += _end_state(session, schedule, started)
    result.elapsed_s = time.monotonic() - started
    try:
        result.ledger = [e.to_json() for e in stack.provider.ledger()]
    except Exception:  # the report's timeline then lacks the provider's calls, nothing else
        result.ledger = []
    counters.violations += len(result.violations)
    counters.session = None
    if not keep_session:
        session.close()
    return result


def _observe_cut(session: Session, result: RoundResult) -> None:
    """A round cut short (a mid-fault violation) never ran the heals of the faults still active:
    the states at the cut are what those faults had brought about when they were healed."""
    cut: Counter[str] | None = None
    for kind, fault in list(result.observed):
        if kind == "inject" and ("heal", fault) not in result.observed:
            cut = session.own_snapshot().item_states() if cut is None else cut
            result.observed[("heal", fault)] = cut


def _end_state(session: Session, schedule: Schedule, started: float) -> list[Violation]:
    """The quiet period (every item of the round's batches terminal, within ``settle_s``), then
    the end-state checks; ``all_terminal`` is violated when the quiet period runs out."""
    deadline = time.monotonic() + schedule.settle_s
    while not _round_done(session) and time.monotonic() < deadline:
        time.sleep(QUIET_POLL_S)
    if checks_mod.trickled(schedule):  # the load's items may still trickle: the whole period
        time.sleep(max(0.0, deadline - time.monotonic()))
    time.sleep(schedule.linger_s)
    at = time.monotonic() - started
    found: list[Violation] = []
    if not _round_done(session):
        from harness.session.checks import all_terminal

        snap = session.own_snapshot()
        found += checks_mod.violations([all_terminal(snap)], at=at, phase="end-state")
    names = checks_mod.end_checks(schedule)
    found += checks_mod.violations(checks_mod.run_now(session, names), at=at, phase="end-state")
    return found


def _round_done(session: Session) -> bool:
    states = session.own_snapshot().item_states()
    return all(s in view.TERMINAL for s in states)
