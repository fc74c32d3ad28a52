"""Faults a scenario injects, each recorded in the history and healed in ``finally``.

Every fault is an entry of the registry (:mod:`harness.faults.registry`); :meth:`Faults.inject`
makes one by name, and the named methods (``kill``, ``partition``, ``provider_outage`` ...) are
the scenarios' spelling of the same calls. Each injection records its start in the history, then
pushes its heal onto a stack, and only then injects: a Ctrl-C (or an error) landing between the
inject and a later registration would otherwise leave a fault nobody heals. ``heal_all()`` (run
by the scenario fixture in ``finally``, also on Ctrl-C) heals in reverse order, so a stopped
process is resumed, a toxic removed, a proxy re-enabled and a provider outage lifted, whatever
happened in between.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from harness.faults import registry
from harness.faults.registry import FaultUse, Step
from harness.stack.base import Stack


class FaultRecorder(Protocol):
    def fault(self, name: str, target: str, phase: str, **details: Any) -> Any: ...


class Faults:
    """Process, network, provider and store faults on one stack."""

    def __init__(self, stack: Stack, history: FaultRecorder) -> None:
        self.stack = stack
        self.history = history
        self._heals: list[tuple[str, str, Callable[[], Any]]] = []
        #: every fault injected, with the role of what it acted on (the catalogue declares them)
        self.used: set[FaultUse] = set()

    # -- by name -------------------------------------------------------------------------------------
    def inject(self, name: str, target: str = "", **params: Any) -> Step:
        """Inject the registry's fault ``name`` on ``target`` (a service, a link; nothing for the
        provider, database and queue-store faults) with its parameters; returns what was done.

        The plan is made first (a refused fault leaves nothing behind), the start recorded, the heal
        registered, and the fault injected last.
        """
        fault = registry.get(name)
        where = fault.fixed_target() or target
        step = fault.plan(self.stack, where, fault.bind(params))
        self.used.add(registry.use_of(fault, where, self.stack.target))
        self.history.fault(step.name, step.target, "start", **step.details)
        if step.heal is not None:
            self._push(step.name, step.target, step.heal)  # before injecting: an interrupt still heals
        step.inject()
        if fault.heals == "instant":
            self.history.fault(step.name, step.target, "heal")
        return step

    # -- process faults ----------------------------------------------------------------------------
    def kill(self, service: str) -> None:
        """SIGKILL the service's whole process group (a crash); not restarted automatically."""
        self.inject("kill", service)

    def pause(self, service: str) -> None:
        """SIGSTOP the service; healed by SIGCONT."""
        self.inject("pause", service)

    def resume(self, service: str) -> None:
        self._heal_one("pause", service)

    def restart(self, service: str) -> None:
        """Start a killed service again (or stop and start a running one) and wait until ready."""
        self.inject("restart", service)

    # -- network faults (through the fault proxy) ---------------------------------------------------
    def partition(self, link: str) -> None:
        """Blackhole both directions of a link: packets vanish, connections hang (no RST)."""
        self.inject("partition", link)

    def heal_partition(self, link: str) -> None:
        self._heal_one("partition", link)

    def latency(self, link: str, ms: int, *, jitter: int = 0, stream: str = "upstream") -> None:
        """Add latency to one direction of a link."""
        self.inject("latency", link, ms=ms, jitter=jitter, stream=stream)

    def heal_latency(self, link: str) -> None:
        """Remove the latency added to ``link`` (the newest one, if added twice)."""
        self._heal_one("latency", link)

    def disable(self, link: str) -> None:
        """Take a link down: live connections dropped, new ones refused."""
        self.inject("link_down", link)

    # -- provider faults ---------------------------------------------------------------------------
    def provider_outage(self, status: int = 500) -> None:
        """Every provider call fails with ``status`` until healed."""
        self.inject("provider_outage", status=status)

    def heal_provider(self) -> None:
        self._heal_one("provider_outage", "provider")

    # -- store faults ------------------------------------------------------------------------------
    def db_crash(self) -> None:
        """SIGKILL PostgreSQL (postmaster and backends); ``db_restart`` brings it back."""
        self.inject("db_kill")

    def db_restart(self) -> None:
        self._heal_one("db_kill", "db")

    def db_pause(self) -> None:
        """SIGSTOP PostgreSQL: queries hang, connections stay open; healed by SIGCONT."""
        self.inject("db_pause")

    def queue_store_crash(self) -> str:
        """SIGKILL the store that holds the target's queue: its ``role: broker`` service (e.g.
        Redis under RQ) when it has one, else PostgreSQL. Returns what was killed;
        ``queue_store_restart`` (or ``heal_all``) brings it back on the same port and data."""
        step = self.inject("queue_store_kill")
        return step.target

    def queue_store_restart(self) -> None:
        brokers = self.stack.target.services_with_role("broker")
        if brokers:
            self._heal_one("broker_kill", brokers[0])
        else:
            self.db_restart()

    # -- healing -----------------------------------------------------------------------------------
    def heal_all(self) -> list[str]:
        """Heal every open fault (newest first); returns errors instead of raising."""
        errors = []
        while self._heals:
            name, target, heal = self._heals.pop()
            try:
                heal()
                self.history.fault(name, target, "heal")
            except Exception as exc:  # keep healing the rest
                errors.append(f"heal {name} on {target}: {exc}")
        return errors

    def open_faults(self) -> list[tuple[str, str]]:
        """(fault name, target) of every fault not yet healed, oldest first (kills are not healable)."""
        return [(name, target) for name, target, _ in self._heals]

    def heal(self, name: str, target: str) -> bool:
        """Heal the newest open fault ``name`` on ``target``; False when there is none."""
        return self._heal_one(name, target)

    @contextlib.contextmanager
    def healing(self) -> Iterator[Faults]:
        try:
            yield self
        finally:
            self.heal_all()

    def _push(self, name: str, target: str, heal: Callable[[], Any]) -> None:
        self._heals.append((name, target, heal))

    def _heal_one(self, name: str, target: str) -> bool:
        """Heal the newest open ``name`` on ``target``; it stays open until its heal has run.

        A Ctrl-C in the middle of the heal (a toxic removed, the other not yet) then leaves the
        fault to ``heal_all`` in the scenario's ``finally``, instead of forgetting it half-healed.
        """
        for i in range(len(self._heals) - 1, -1, -1):
            if self._heals[i][:2] == (name, target):
                self._heals[i][2]()
                del self._heals[i]
                self.history.fault(name, target, "heal")
                return True
        return False
