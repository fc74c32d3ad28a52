"""The external backend: audit a stack that is already running (staging, a compose file, ...).

The harness starts nothing of the target. It runs only its own tools, locally: the mock provider
(the target must be configured to call it: ``services.<provider>.url``) and the fault proxy (the
target's services must connect through it: ``links.<name>.listen`` -> ``upstream``). Process and
store faults need a handle the harness can act on: a container name (``services.<name>.container``)
with Docker available; otherwise the scenarios that need them are ``unknown``, never ``pass``.
The database is the target's own (``database.dsn``): invariants are scoped to the scenario's batch.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import CapabilityMissing, ConfigError
from harness.faults.control_token import control_headers
from harness.faults.provider.client import ProviderClient
from harness.faults.proxy.client import ProxyClient
from harness.process.readiness import HttpReady, wait_until
from harness.process.service import ProcessService
from harness.stack.base import Signalable, Stack
from harness.store.postgres import free_port
from harness.target.model import Target


def _port_of(url: str | None) -> int | None:
    return urlsplit(url).port if url else None


class ExternalInfra:
    """The harness's own mock provider and fault proxy, as local processes."""

    def __init__(self, target: Target, *, work_dir: Path | None = None) -> None:
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="chaos-audit-ext-"))
        providers = target.services_with_role("provider")
        provider_url = target.services[providers[0]].url if providers else None
        proxies = target.services_with_role("proxy")
        proxy_url = target.services[proxies[0]].url if proxies else None
        provider_port = _port_of(provider_url) or free_port()
        proxy_port = _port_of(proxy_url) or free_port()
        cli = [sys.executable, "-m", "harness.cli"]
        self.provider_url = f"http://127.0.0.1:{provider_port}"
        self.proxy_url = f"http://127.0.0.1:{proxy_port}"
        self.services = [
            ProcessService(
                "provider",
                [*cli, "provider", "--host", "127.0.0.1", "--port", str(provider_port)],
                log_path=self.work_dir / "provider.log",
                readiness=HttpReady(f"{self.provider_url}/_control/health", headers=control_headers()),
            ),
            ProcessService(
                "proxy",
                [*cli, "proxy", "--host", "127.0.0.1", "--port", str(proxy_port)],
                log_path=self.work_dir / "proxy.log",
                readiness=HttpReady(f"{self.proxy_url}/version", headers=control_headers()),
            ),
        ]
        self.provider = ProviderClient(self.provider_url)
        self.proxy = ProxyClient(self.proxy_url)

    def start(self) -> None:
        for svc in self.services:
            svc.start()
        for svc in self.services:
            svc.wait_ready(timeout=20)

    def close(self) -> None:
        for svc in self.services:
            svc.stop()


class ExternalStack(Stack):
    """A running target reached by URLs; the harness only resets its own tools between scenarios."""

    def __init__(self, infra: ExternalInfra, target: Target) -> None:
        super().__init__(target)
        if target.database.kind != "external" or not target.database.dsn:
            raise ConfigError(
                "the external backend needs database.kind external and database.dsn", field="database"
            )
        self.infra = infra
        self.provider = infra.provider
        self.proxy = infra.proxy
        self.db_dsn = target.database.dsn
        self._proxies: list[str] = []

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
            self._proxies.append(name)

    def _start_service(self, name: str) -> None:
        spec = self.target.services[name]
        if spec.url is None:
            raise ConfigError(
                f"services.{name}: the external backend needs its url", field=f"services.{name}.url"
            )
        if spec.ready and spec.ready.http:
            wait_until(
                HttpReady(spec.url.rstrip("/") + spec.ready.http), timeout=spec.ready.timeout_s, name=name
            )
        if spec.role == "api" and self.api_url is None:
            self.api_url = spec.url.rstrip("/")

    def _teardown(self) -> None:
        for name in self._proxies:
            for toxic in self.proxy.toxics(name):
                self.proxy.remove_toxic(name, toxic.name)
            self.proxy.enable(name)
        self._proxies.clear()

    def process(self, name: str) -> Signalable:
        raise CapabilityMissing(
            f"process faults on {name!r} (an external service without a container handle)"
        )

    def proxy_name(self, link: str) -> str:
        if link not in self.target.links:
            raise ConfigError(f"no link {link!r} in the target file", field="links")
        return link

    def log_path(self, service: str) -> Path | None:
        path = self.target.logs.paths.get(service)
        return Path(path) if path else None

    def kill_db(self) -> None:
        raise CapabilityMissing("database crash on an external stack")

    def start_db(self) -> None:
        raise CapabilityMissing("database restart on an external stack")

    def pause_db(self) -> None:
        raise CapabilityMissing("database pause on an external stack")

    def resume_db(self) -> None:
        raise CapabilityMissing("database resume on an external stack")
