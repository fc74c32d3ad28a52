"""Compose mode of the docker backend: audit containers someone else started (docker-compose).

``docker-compose -f docker-compose.chaos.yml up -d`` runs the whole stack; its target file
(``harness/target/compose.yaml``) names each service's container, the proxy and provider URLs and
the proxied links. Nothing is started or removed here: the stack is reached like an external one
(:class:`~harness.stack.external.ExternalStack`: URLs, the target's own database, links populated
on the running proxy), and process and store faults act on the named containers (kill, pause,
restart). A scenario that asks for some services gets exactly those: the other target containers
are stopped for it and started again at teardown, so the stack is left as it was found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import CapabilityMissing, ConfigError, ServiceError
from harness.faults.control_token import control_headers
from harness.process.readiness import HttpReady, SqlReady, wait_until
from harness.stack.base import INFRA_ROLES
from harness.stack.containers import ContainerService, docker_client
from harness.stack.external import ExternalInfra, ExternalStack
from harness.target.model import Target

_HINT = "hint: start the stack first: docker-compose -f docker-compose.chaos.yml up -d"


def is_compose_target(target: Target) -> bool:
    """True when every service names a container and none has a command: the stack runs already."""
    services = target.services.values()
    return all(s.container for s in services) and not any(s.command for s in services)


class ComposeInfra(ExternalInfra):
    """The compose stack's own proxy and provider: waited for, never started or stopped."""

    def __init__(self, target: Target, *, work_dir: Path | None = None) -> None:
        super().__init__(target, work_dir=work_dir)
        self.client = docker_client()

    def start(self) -> None:
        """Wait until the proxy and the provider of the compose stack answer."""
        for name, url in (
            ("proxy", f"{self.proxy_url}/version"),
            ("provider", f"{self.provider_url}/_control/health"),
        ):
            try:
                wait_until(HttpReady(url, headers=control_headers()), timeout=30, name=name)
            except ServiceError as exc:
                raise ServiceError(f"{exc}; {_HINT}") from exc

    def close(self) -> None:
        """Nothing to stop: ``docker-compose down`` is the owner's call."""

    def new_stack(self, target: Target, *, defects: Sequence[str] = (), seed: int = 0) -> ComposeStack:
        """The seed is unused: compose services are started by docker-compose, not by the harness."""
        return ComposeStack(self, target, defects=defects)


class ComposeStack(ExternalStack):
    """One scenario on the compose stack: faults on its containers, services chosen per scenario."""

    def __init__(self, infra: ComposeInfra, target: Target, *, defects: Sequence[str] = ()) -> None:
        if defects:
            raise ConfigError(
                "compose mode cannot switch defects per scenario; set them when starting the stack: "
                "REFTARGET_DEFECTS=name docker-compose -f docker-compose.chaos.yml up -d",
                field="--defect",
            )
        super().__init__(infra, target, guard=False)  # the harness's own compose stack
        self.work_dir = infra.work_dir
        self._handles: dict[str, ContainerService] = {}

    # -- Stack hooks ------------------------------------------------------------------------------
    def _prepare(self, timing: Mapping[str, Any]) -> None:
        fixed = self.target.timing.bounds()
        changed = {k: v for k, v in timing.items() if fixed.get(k) != v}
        if changed:  # the containers run with the compose file's settings: the scenario cannot hold
            raise CapabilityMissing(f"timing override {changed} (compose services run with fixed settings)")
        super()._prepare(timing)

    def _start_services(self, names: Sequence[str]) -> None:
        for name in self.target.services:
            if name not in names and self.target.services[name].role not in INFRA_ROLES:
                self.process(name).stop()  # "one worker" must mean one worker
        super()._start_services(names)

    def _start_service(self, name: str) -> None:
        self.process(name).start()
        if self.target.services[name].url:
            super()._start_service(name)  # waits for its URL; the api's becomes api_url

    def _teardown(self) -> None:
        try:
            super()._teardown()
        finally:
            for name in self.target.services:
                handle = self.process(name)
                handle.resume()
                handle.start()

    def process(self, name: str) -> ContainerService:
        spec = self.target.services.get(name)
        if spec is None or not spec.container:
            raise ConfigError(
                f"services.{name}: compose mode needs its container name", field=f"services.{name}"
            )
        if name not in self._handles:
            self._handles[name] = ContainerService.attach(name, spec.container, log_dir=self.work_dir)
        return self._handles[name]

    def log_path(self, service: str) -> Path | None:
        configured = self.target.logs.paths.get(service)
        return Path(configured) if configured else self.process(service).save_log()

    def kill_db(self) -> None:
        self._db().kill()

    def start_db(self) -> None:
        self._db().start()
        wait_until(SqlReady(self.db_dsn), timeout=30, name="db")

    def pause_db(self) -> None:
        self._db().pause()

    def resume_db(self) -> None:
        self._db().resume()

    def _db(self) -> ContainerService:
        dbs = self.target.services_with_role("db")
        if not dbs:
            raise ConfigError("compose mode: no service with role db", field="services")
        return self.process(dbs[0])
