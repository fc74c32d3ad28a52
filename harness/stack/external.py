"""The external backend: audit a stack that is already running (staging, a compose file, ...).

The harness starts nothing of the target. Its own tools (the mock provider, which the target must
call: ``services.<provider>.url``; the fault proxy, which the target's services must connect
through: ``links.<name>.listen`` -> ``upstream``) run locally or are attached (``external_infra``).
Process and store faults act through each service's ``handle`` (a Docker container or the user's
commands, ``harness.stack.handles``); a service without one makes the faults on it ``unknown``.

What a scenario asks of its stack is honoured or refused, never silently ignored: a scenario that
wants only some workers gets the others stopped (through their handles) until its teardown; a
timing the scenario needs but the running stack does not have is ``unknown`` (``timing.<key>``),
because its bounds would be wrong. Every fault is journaled before it is made (``journal``), the
stack leaves services as it found them, and a safety watcher aborts the run when the API stays
unhealthy outside the audit's fault windows (``safety``).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import CapabilityMissing, ConfigError, Undecidable
from harness.process.readiness import HttpReady, SqlReady, wait_until
from harness.stack.base import INFRA_ROLES, Signalable, Stack
from harness.stack.external_infra import ExternalInfra
from harness.stack.handles import handle_for, wait_alive
from harness.stack.journal import JournaledHandle
from harness.stack.safety import HealthWatcher, RunAborted, health_url, http_ok, require_faults_allowed
from harness.stack.timing import changes_needed
from harness.target.model import Target

__all__ = ["ExternalInfra", "ExternalStack"]

#: how long a service brought back through its handle may take to run again
HANDLE_START_TIMEOUT_S = 30.0


class ExternalStack(Stack):
    """A running target reached by URLs and acted on through its services' handles."""

    def __init__(self, infra: ExternalInfra, target: Target, *, guard: bool = True) -> None:
        super().__init__(target)
        if target.database.kind != "external" or not target.database.dsn:
            raise ConfigError(
                "the external backend needs database.kind external and database.dsn", field="database"
            )
        self.infra = infra
        self.provider = infra.provider
        self.proxy = infra.proxy
        self.journal = infra.journal
        self.db_dsn = target.database.dsn
        self.guard = guard  # faults need safety.allow_faults (compose mode: the harness's own stack)
        self._proxies: list[str] = []
        self._journaled: dict[str, JournaledHandle] = {}
        self._held: dict[str, str] = {}  # service -> "killed" / "paused" for this scenario
        self.watcher: HealthWatcher | None = None
        self.aborted: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(
        self, *, services: Sequence[str] | None = None, timing: Mapping[str, Any] | None = None
    ) -> None:
        """As ``Stack.start``, except that a timing the running stack does not have is refused:
        ``stack.timing`` stays the file's, which is what the running services were configured with."""
        self._check_aborted()
        fixed = self.target.timing.bounds()
        for key, value in changes_needed(fixed, timing or {}, fixed=True).items():
            if key in fixed:
                raise Undecidable(
                    f"timing.{key}: the scenario needs {value}; the running stack has {fixed[key]}, "
                    "which the harness cannot change",
                    field=f"timing.{key}",
                )
        super().start(services=services, timing={k: v for k, v in (timing or {}).items() if k not in fixed})
        self._start_watcher()

    def _prepare(self, timing: Mapping[str, Any]) -> None:
        self.provider.reset()
        for name, link in self.target.links.items():
            if not (link.listen and link.upstream):
                raise ConfigError(
                    f"links.{name}: the external backend needs listen and upstream (where your service "
                    "connects, and where the proxy forwards)",
                    field=f"links.{name}",
                )
            self.proxy.populate([{"name": name, "listen": link.listen, "upstream": link.upstream}])
            if name not in self._proxies:
                self._proxies.append(name)

    def _start_services(self, names: Sequence[str]) -> None:
        """Stop the workers the scenario does not want (one worker must mean one), then start its own."""
        for name, spec in self.target.services.items():
            if name not in names and spec.role == "worker":
                self._hold(name, names)
        super()._start_services(names)

    def _start_service(self, name: str) -> None:
        self._check_aborted()
        spec = self.target.services[name]
        handle = self.handle(name)
        timeout = spec.ready.timeout_s if spec.ready else HANDLE_START_TIMEOUT_S
        if handle is not None:
            held = self._held.pop(name, None)
            if held == "paused":
                handle.resume()
            elif held == "killed" or handle.down or not handle.running:
                handle.start()
            self.journal.remove("held", service=name)
            wait_alive(handle, timeout=timeout)
        if spec.url is None:
            if spec.role == "api":
                raise ConfigError(
                    f"services.{name}: the external backend needs its url", field=f"services.{name}.url"
                )
            return
        if spec.ready and spec.ready.http:
            wait_until(HttpReady(spec.url.rstrip("/") + spec.ready.http), timeout=timeout, name=name)
        if spec.role == "api" and self.api_url is None:
            self.api_url = spec.url.rstrip("/")

    def _teardown(self) -> None:
        """Remove toxics, bring back what the scenario or the stack stopped, clear the provider."""
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        errors = self.heal_everything()
        self._proxies.clear()
        if errors:
            from harness.errors import ServiceError

            raise ServiceError("teardown was not clean: " + "; ".join(errors))

    def heal_everything(self) -> list[str]:
        """Every toxic off the file's links, paused services resumed, stopped ones started, provider
        rules cleared; returns errors instead of raising (it also runs when the run is aborted)."""
        from harness.stack.heal import heal_links, heal_provider

        errors = heal_links(self.proxy, self.target)
        for name, handle in list(self._journaled.items()):
            try:
                held = self._held.pop(name, None)
                if held == "paused" or _names(self.journal, "paused", name):
                    handle.resume()
                if held == "killed" or handle.down:
                    handle.start()
                self.journal.remove("held", service=name)
            except Exception as exc:  # keep restoring the others
                errors.append(f"{name}: {exc}")
        errors += heal_provider(self.provider)
        return errors

    # -- fault primitives -----------------------------------------------------------------------------
    def handle(self, name: str) -> JournaledHandle | None:
        """The journaled handle of ``name``'s ``handle`` (or ``container``), None when it has none."""
        if name not in self._journaled:
            spec = self.target.services[name].fault_handle
            if spec is None:
                return None
            work_dir = Path(self.infra.work_dir)
            self._journaled[name] = JournaledHandle(handle_for(name, spec, log_dir=work_dir), self.journal)
        return self._journaled[name]

    def process(self, name: str) -> Signalable:
        self._guard()
        if name not in self.target.services:
            raise ConfigError(f"unknown service {name!r} (services: {sorted(self.target.services)})")
        handle = self.handle(name)
        if handle is None:
            raise CapabilityMissing(f"services.{name}.handle (process faults on a running stack need one)")
        return handle

    def memory_kb(self, name: str) -> int | None:
        """Through the handle's ``memory_kb`` command (None without one): the process is elsewhere."""
        handle = self.handle(name) if name in self.target.services else None
        try:
            return handle.memory_kb() if handle is not None else None
        except Exception:  # a command that hangs or cannot run: unreadable, never a finding
            return None

    def proxy_name(self, link: str) -> str:
        self._guard()
        if link not in self.target.links:
            raise ConfigError(f"no link {link!r} in the target file", field="links")
        return link

    def log_path(self, service: str) -> Path | None:
        """Every service's log: the file ``logs.paths`` names, else a container handle's output.

        Started by the scenario or not: a worker the scenario left alone still logs what it did.
        """
        path = self.target.logs.paths.get(service)
        if path:
            return Path(path)
        handle = self.handle(service) if service in self.target.services else None
        return handle.save_log() if handle is not None else None

    def logged_services(self) -> list[str]:
        """The file's log paths and every service with a container handle (its output is its log)."""
        return [
            name
            for name, svc in self.target.services.items()
            if svc.role not in INFRA_ROLES
            and (name in self.target.logs.paths or (svc.fault_handle and svc.fault_handle.docker))
        ]

    def kill_db(self) -> None:
        self._store().kill()

    def start_db(self) -> None:
        store = self._store()
        store.start()
        wait_alive(store, timeout=HANDLE_START_TIMEOUT_S)
        wait_until(SqlReady(self.db_dsn, "SELECT 1"), timeout=60, name="db")

    def pause_db(self) -> None:
        self._store().pause()

    def resume_db(self) -> None:
        self._store().resume()

    # -- internals ------------------------------------------------------------------------------------
    def _store(self) -> Signalable:
        dbs = self.target.services_with_role("db")
        if not dbs:
            raise CapabilityMissing("services.<db> (a service with role db and a handle)")
        return self.process(dbs[0])

    def _hold(self, name: str, wanted: Sequence[str]) -> None:
        """Stop ``name`` for this scenario: kill it when its handle can start it again, else pause it."""
        why = f"the scenario needs only {', '.join(wanted)} running"
        handle = self.handle(name)
        if handle is None:
            raise CapabilityMissing(f"services.{name}.handle ({why})")
        if name in self._held or not handle.running:
            return  # already stopped (by us, or before we came: left as found)
        self._guard()
        if handle.can("start"):
            self.journal.add("held", service=name, how="killed")
            self._held[name] = "killed"
            handle.handle.kill()
            wait_alive(handle, timeout=HANDLE_START_TIMEOUT_S, want=False)
        elif handle.can("pause"):
            self.journal.add("held", service=name, how="paused")
            self._held[name] = "paused"
            handle.handle.pause()
        else:
            raise CapabilityMissing(f"services.{name}.handle.commands.start ({why}, then again after it)")

    def _guard(self) -> None:
        if self.guard:
            require_faults_allowed(self.target)
        self._check_aborted()

    def _check_aborted(self) -> None:
        if self.aborted:
            raise RunAborted(self.aborted)

    def _start_watcher(self) -> None:
        safety = self.target.safety
        if self.watcher is not None or safety is None or safety.abort_if_unhealthy_s is None:
            return
        url = health_url(self.target, self.api_url) if self.api_url else None
        if url is None:
            print("chaos-audit: safety: no observe.health or api ready.http: not watching", file=sys.stderr)
            return
        self.watcher = HealthWatcher(
            healthy=http_ok(url),
            in_fault=lambda: bool(self.journal.open_faults()),
            limit_s=safety.abort_if_unhealthy_s,
            on_abort=self._abort,
        )
        self.watcher.start()

    def _abort(self, reason: str) -> None:
        """Heal everything, then interrupt the run (the scenario's own teardown heals again, harmlessly)."""
        from harness.stack import safety

        self.aborted = reason
        safety.ABORTED.append(reason)
        print(f"chaos-audit: safety abort: {reason}; healing everything", file=sys.stderr, flush=True)
        for error in self.heal_everything():
            print(f"chaos-audit: safety abort: heal: {error}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGINT)  # the run stops as interrupted; the report says aborted


def _names(journal: Any, kind: str, name: str) -> bool:
    return any(e.get("service") == name for e in journal.entries(kind))
