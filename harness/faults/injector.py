"""Faults a scenario injects, each recorded in the history and healed in ``finally``.

Every injection pushes its heal onto a stack; ``heal_all()`` (run by the scenario fixture in
``finally``, also on Ctrl-C) heals in reverse order, so a stopped process is resumed, a toxic
removed, a proxy re-enabled and a provider outage lifted, whatever happened in between.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from harness.errors import ProxyNotFound
from harness.stack.base import Stack


class FaultRecorder(Protocol):
    def fault(self, name: str, target: str, phase: str, **details: Any) -> Any: ...


class Faults:
    """Process, network, provider and store faults on one stack."""

    def __init__(self, stack: Stack, history: FaultRecorder) -> None:
        self.stack = stack
        self.history = history
        self._heals: list[tuple[str, str, Callable[[], None]]] = []

    # -- process faults ----------------------------------------------------------------------------
    def kill(self, service: str) -> None:
        """SIGKILL the service's whole process group (a crash); not restarted automatically."""
        self._allowed(service, "kill")
        self.history.fault("kill", service, "start")
        self.stack.process(service).kill()

    def pause(self, service: str) -> None:
        """SIGSTOP the service; healed by SIGCONT."""
        self._allowed(service, "pause")
        self.history.fault("pause", service, "start")
        self.stack.process(service).pause()
        self._push("pause", service, lambda: self.stack.process(service).resume())

    def resume(self, service: str) -> None:
        self._heal_one("pause", service)

    def restart(self, service: str) -> None:
        """Start a killed service again (or stop and start a running one) and wait until ready."""
        self._allowed(service, "restart")
        self.history.fault("restart", service, "start")
        proc = self.stack.process(service)
        if proc.running:
            proc.stop()
        self.stack.start_service(service)
        self.history.fault("restart", service, "heal")

    # -- network faults (through the fault proxy) ---------------------------------------------------
    def partition(self, link: str) -> None:
        """Blackhole both directions of a link: packets vanish, connections hang (no RST).

        Healing removes the toxics, which closes the connections that crossed the partition, as a
        long partition does to real TCP connections. The heal is registered before the first toxic
        is added: a Ctrl-C while the toxics are being added would otherwise leave one on the proxy
        that ``heal_all`` does not know about. Healing a toxic that was never added is harmless
        (the proxy's "no such toxic" is ignored), so the early heal is always safe.
        """
        proxy = self.stack.proxy_name(link)
        self.history.fault("partition", link, "start")

        def heal() -> None:
            for stream in ("upstream", "downstream"):
                with contextlib.suppress(Exception):
                    self.stack.proxy.remove_toxic(proxy, f"partition-{stream}")

        self._push("partition", link, heal)
        for stream in ("upstream", "downstream"):
            self.stack.proxy.add_toxic(
                proxy, "timeout", {"timeout": 0}, stream=stream, name=f"partition-{stream}"
            )

    def heal_partition(self, link: str) -> None:
        self._heal_one("partition", link)

    def latency(self, link: str, ms: int, *, jitter: int = 0, stream: str = "upstream") -> None:
        """Add latency to one direction of a link."""
        proxy = self.stack.proxy_name(link)
        name = f"latency-{stream}"
        self.history.fault("latency", link, "start", ms=ms, jitter=jitter, stream=stream)

        def heal() -> None:
            with contextlib.suppress(ProxyNotFound):  # interrupted before the toxic was added
                self.stack.proxy.remove_toxic(proxy, name)

        self._push("latency", link, heal)  # before injecting: a Ctrl-C in between is still healed
        self.stack.proxy.add_toxic(
            proxy, "latency", {"latency": ms, "jitter": jitter}, stream=stream, name=name
        )

    def heal_latency(self, link: str) -> None:
        """Remove the latency added to ``link`` (the newest one, if added twice)."""
        self._heal_one("latency", link)

    def disable(self, link: str) -> None:
        """Take a link down: live connections dropped, new ones refused."""
        proxy = self.stack.proxy_name(link)
        self.history.fault("link_down", link, "start")

        def heal() -> None:
            self.stack.proxy.enable(proxy)  # enabling an enabled link is a no-op

        self._push("link_down", link, heal)  # before injecting: a Ctrl-C in between is still healed
        self.stack.proxy.disable(proxy)

    # -- provider faults ---------------------------------------------------------------------------
    def provider_outage(self, status: int = 500) -> None:
        """Every provider call fails with ``status`` until healed."""
        self.history.fault("provider_outage", "provider", "start", status=status)
        rule = self.stack.provider.add_rule(status=status)
        self._push(
            "provider_outage", "provider", lambda: self.stack.provider.remove_rule(rule, missing_ok=True)
        )

    def heal_provider(self) -> None:
        self._heal_one("provider_outage", "provider")

    def provider_rule(self, name: str, **rule: Any) -> None:
        """Script provider answers (``ProviderClient.add_rule`` keywords: hang, delay_ms, item_id, nth...)
        as the fault ``name`` on ``provider``, removed on heal (an ad-hoc session's hangs and delays)."""
        self.history.fault(name, "provider", "start", **rule)
        rule_id = self.stack.provider.add_rule(**rule)
        self._push(name, "provider", lambda: self.stack.provider.remove_rule(rule_id, missing_ok=True))

    # -- store faults ------------------------------------------------------------------------------
    def db_crash(self) -> None:
        """SIGKILL PostgreSQL (postmaster and backends); ``db_restart`` brings it back."""
        self.history.fault("db_kill", "db", "start")
        self.stack.kill_db()
        self._push("db_kill", "db", self.stack.start_db)

    def db_restart(self) -> None:
        self._heal_one("db_kill", "db")

    def db_pause(self) -> None:
        """SIGSTOP PostgreSQL: queries hang, connections stay open; healed by SIGCONT."""
        self.history.fault("db_pause", "db", "start")
        self.stack.pause_db()
        self._push("db_pause", "db", self.stack.resume_db)

    def queue_store_crash(self) -> str:
        """SIGKILL the store that holds the target's queue: its ``role: broker`` service (e.g.
        Redis under RQ) when it has one, else PostgreSQL. Returns what was killed;
        ``queue_store_restart`` (or ``heal_all``) brings it back on the same port and data."""
        brokers = self.stack.target.services_with_role("broker")
        if not brokers:
            self.db_crash()
            return "db"
        broker = brokers[0]
        self.kill(broker)
        self._push("broker_kill", broker, lambda: self.stack.start_service(broker))
        return broker

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

    def _push(self, name: str, target: str, heal: Callable[[], None]) -> None:
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

    def _allowed(self, service: str, fault: str) -> None:
        spec = self.stack.target.services.get(service)
        if spec is None or fault not in spec.faults:
            from harness.errors import CapabilityMissing

            raise CapabilityMissing(f"services.{service}.faults: {fault}")
