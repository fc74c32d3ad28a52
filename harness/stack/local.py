"""The local backend: the target's services as child processes of the harness.

Each scenario gets its own stack: a fresh database on the shared PostgreSQL, one proxy per link
of the target file (so faults hit exactly ``worker-1 -> db``), its own Redis when the target has
a ``role: broker`` service (started with that service's ``args``: the target decides whether it is
durable), and the target's services started from their commands with ``{placeholders}`` filled.
``close()`` stops everything, resumes paused processes first, removes the proxies and drops the
database: nothing survives a scenario.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, ServiceError
from harness.process.ports import free_port
from harness.process.service import ProcessService
from harness.stack.infra import LocalInfra
from harness.stack.render import render
from harness.stack.wiring import WiredStack
from harness.store.redis import EmbeddedRedis
from harness.target.model import Target


def service_env(env: Mapping[str, str]) -> dict[str, str]:
    """A service's rendered env, on the harness's import path.

    The service's own ``PYTHONPATH`` (``"{target_dir}"``, say) comes first and the harness's path
    after it: it adds to what the harness's interpreter can import, it does not replace it.
    """
    own = env.get("PYTHONPATH", "")
    path = [*own.split(os.pathsep), *sys.path]
    return {**env, "PYTHONPATH": os.pathsep.join(dict.fromkeys(p for p in path if p))}


class LocalStack(WiredStack):
    """One scenario's stack on the local backend."""

    def __init__(
        self, infra: LocalInfra, target: Target, *, defects: Sequence[str] = (), seed: int = 0
    ) -> None:
        super().__init__(infra, target, defects=defects, seed=seed)
        self.infra: LocalInfra = infra
        self._services: dict[str, ProcessService] = {}
        self.broker: EmbeddedRedis | None = None

    # -- Stack hooks ------------------------------------------------------------------------
    def _prepare(self, timing: Mapping[str, Any]) -> None:
        self._timing = dict(timing)
        self.provider.reset()
        self.infra.pg.create_database(self.dbname)
        self._db_created = True
        self.db_dsn = self.infra.pg.dsn(self.dbname)
        self._start_broker()
        for name, link in self.target.links.items():
            upstream = self._upstream_of(link.to)
            proxy_name = f"s{self.stack_id}-{name}"
            created = self.proxy.create_proxy(name=proxy_name, listen="127.0.0.1:0", upstream=upstream)
            self._proxies[name] = created.listen

    def _start_services(self, names: Sequence[str]) -> None:
        """API services first (they own the schema), then every other process launched at once and
        awaited together, so start-up costs overlap."""
        first = [n for n in names if self.target.services[n].role == "api"]
        rest = [n for n in names if n not in first]
        for group in (first, rest):
            for name in group:
                self._launch(name)
            for name in group:
                self._await_ready(name)

    def _start_service(self, name: str) -> None:
        self._launch(name)
        self._await_ready(name)

    def _start_broker(self) -> None:
        """One Redis per stack (it starts in ~15 ms): fresh, isolated, and killable on its own."""
        brokers = self.target.services_with_role("broker")
        if not brokers:
            return
        if len(brokers) > 1:
            raise ConfigError(
                f"services: the local backend starts one broker, the target has {brokers}", field="services"
            )
        name = brokers[0]
        port = self._ports.setdefault(name, free_port())
        values = {"port": port, "service": name, **self._values_for(name, port)}
        args = [render(a, values, where=f"services.{name}.args") for a in self.target.services[name].args]
        self.broker = EmbeddedRedis(name=name, args=args, port=port, base_dir=self.work_dir / name)
        self.broker.base_dir.mkdir(parents=True, exist_ok=True)
        self.broker.start()

    def _launch(self, name: str) -> None:
        spec = self.target.services[name]
        if spec.role == "broker" and self.broker is not None:
            self.broker.start()  # no-op when running; after a kill: same port, same data dir
            return
        if spec.command is None:
            raise ConfigError(
                f"services.{name}: the local backend needs a command to start it",
                field=f"services.{name}.command",
            )
        if name not in self._services:
            port = self._ports.setdefault(name, free_port())
            values = self._values_for(name, port)
            argv = [render(a, values, where=f"services.{name}.command") for a in spec.command]
            env = {k: render(v, values, where=f"services.{name}.env.{k}") for k, v in spec.env.items()}
            self._services[name] = ProcessService(
                name=name,
                argv=argv,
                env=service_env(env),
                log_path=self.work_dir / f"{name}.log",
                readiness=self._readiness(name, port),
            )
        self._services[name].start()

    def _await_ready(self, name: str) -> None:
        spec = self.target.services[name]
        if spec.role == "broker":
            return  # EmbeddedRedis.start() returns once the server answers PING
        if spec.ready is not None:
            self._services[name].wait_ready(timeout=spec.ready.timeout_s)
        if spec.role == "api" and self.api_url is None:
            self.api_url = f"http://127.0.0.1:{self._ports[name]}"

    def _teardown(self) -> None:
        """Kill the target's processes (the scenario is over and its database is dropped, so a
        graceful stop would only cost time), remove the proxies, drop the database."""
        errors: list[str] = []
        for svc in self._services.values():
            try:
                svc.kill()
            except Exception as exc:
                errors.append(f"{svc.name}: {exc}")
        for name in list(self._proxies):
            try:
                self.proxy.delete_proxy(f"s{self.stack_id}-{name}")
            except Exception as exc:
                errors.append(f"proxy {name}: {exc}")
        self._proxies.clear()
        if self.broker is not None:
            try:
                self.broker.close()
            except Exception as exc:
                errors.append(f"broker: {exc}")
            self.broker = None
        if self._db_created:
            if not self.infra.pg.running:
                self.infra.pg.resume()
                self.infra.pg.start()
            self.infra.pg.drop_database(self.dbname)
            self._db_created = False
        if errors:
            raise ServiceError("teardown was not clean: " + "; ".join(errors))

    def process(self, name: str) -> ProcessService | EmbeddedRedis:
        if self.broker is not None and name == self.broker.name:
            return self.broker  # kill / pause / restart of the broker: the same Faults API as a worker
        if name not in self._services:
            raise ServiceError(
                f"service {name!r} was not started in this stack (started: {sorted(self._services)})"
            )
        return self._services[name]

    def proxy_name(self, link: str) -> str:
        if link not in self._proxies:
            raise ConfigError(
                f"no link {link!r} in the target file (links: {sorted(self._proxies)})", field="links"
            )
        return f"s{self.stack_id}-{link}"

    def log_path(self, service: str) -> Path | None:
        if self.broker is not None and service == self.broker.name:
            return self.broker.log_path
        svc = self._services.get(service)
        return svc.log_path if svc else None

    def kill_db(self) -> None:
        self.infra.pg.kill()

    def start_db(self) -> None:
        self.infra.pg.start()

    def pause_db(self) -> None:
        self.infra.pg.pause()

    def resume_db(self) -> None:
        self.infra.pg.resume()

    # -- internals ------------------------------------------------------------------------------
    @property
    def db_port(self) -> int:
        return int(self.infra.pg.port)

    @property
    def provider_port(self) -> int:
        return int(self.infra.provider_port)

    @property
    def broker_port(self) -> int | None:
        return self.broker.port if self.broker is not None else None

    @property
    def python(self) -> str:
        return sys.executable
