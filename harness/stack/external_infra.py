"""The external backend's own tools: the mock provider and the fault proxy, started or attached.

By default the harness runs both as local processes for the length of the run (the target must be
configured to call the provider at ``services.<provider>.url`` and to connect through the proxy's
``links.<name>.listen``). A staging stack usually cannot be reconfigured per run, so either may
instead be *persistent*: ``attach: true`` on the proxy or provider service says the one at its
``url`` runs already (``chaos-audit proxy --links FILE``, ``chaos-audit provider``): the harness
adds and removes toxics and rules on it, resets the provider between scenarios, and never starts
or stops it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import ServiceError
from harness.faults.control_token import control_headers
from harness.faults.provider.client import ProviderClient
from harness.process.ports import free_port
from harness.process.readiness import HttpReady, wait_until
from harness.process.scratch import ScratchDir
from harness.process.service import ProcessService
from harness.stack.journal import Journal, JournaledProxyClient
from harness.target.model import Service, Target

#: how long a persistent proxy or provider may take to answer at the start of a run
ATTACH_TIMEOUT_S = 30.0


def _port_of(url: str | None) -> int | None:
    return urlsplit(url).port if url else None


def _service_of(target: Target, role: str) -> Service | None:
    names = target.services_with_role(role)  # type: ignore[arg-type]
    return target.services[names[0]] if names else None


class ExternalInfra:
    """The harness's mock provider and fault proxy for one run: its own processes, or attached ones."""

    def __init__(
        self, target: Target, *, work_dir: Path | None = None, journal: Journal | None = None
    ) -> None:
        self.target = target
        self._scratch = ScratchDir("chaos-audit-ext-", path=work_dir)
        self.work_dir = self._scratch.path
        self.journal = journal or Journal.for_target(target.name)
        cli = [sys.executable, "-m", "harness.cli"]
        self.services: list[ProcessService] = []
        self.attached: dict[str, str] = {}  # "proxy" / "provider" -> the health URL waited for
        provider = _service_of(target, "provider")
        if provider is not None and provider.attach and provider.url:
            self.provider_url = provider.url.rstrip("/")
            self.attached["provider"] = f"{self.provider_url}/_control/health"
        else:
            port = _port_of(provider.url if provider else None) or free_port()
            self.provider_url = f"http://127.0.0.1:{port}"
            self.services.append(
                ProcessService(
                    "provider",
                    [*cli, "provider", "--host", "127.0.0.1", "--port", str(port)],
                    log_path=self.work_dir / "provider.log",
                    readiness=HttpReady(f"{self.provider_url}/_control/health", headers=control_headers()),
                )
            )
        proxy = _service_of(target, "proxy")
        if proxy is not None and proxy.attach and proxy.url:
            self.proxy_url = proxy.url.rstrip("/")
            self.attached["proxy"] = f"{self.proxy_url}/version"
        else:
            port = _port_of(proxy.url if proxy else None) or free_port()
            self.proxy_url = f"http://127.0.0.1:{port}"
            self.services.append(
                ProcessService(
                    "proxy",
                    [*cli, "proxy", "--host", "127.0.0.1", "--port", str(port)],
                    log_path=self.work_dir / "proxy.log",
                    readiness=HttpReady(f"{self.proxy_url}/version", headers=control_headers()),
                )
            )
        self.provider = ProviderClient(self.provider_url)
        self.proxy = JournaledProxyClient(self.proxy_url, self.journal)

    def start(self) -> None:
        """Start the harness's own tools and wait for the attached ones; record where they are."""
        for svc in self.services:
            svc.start()
        for svc in self.services:
            svc.wait_ready(timeout=20)
        for name, url in self.attached.items():
            try:
                wait_until(HttpReady(url, headers=control_headers()), timeout=ATTACH_TIMEOUT_S, name=name)
            except ServiceError as exc:
                raise ServiceError(
                    f"{exc}; hint: the target file says the {name} runs already (attach: true): "
                    f"start it first (chaos-audit {name} ...)"
                ) from exc
        self.journal.set_urls(proxy_url=self.proxy_url, provider_url=self.provider_url)

    def close(self) -> None:
        """Stop only what this run started: an attached proxy or provider is somebody else's."""
        try:
            for svc in self.services:
                svc.stop()
        finally:
            self._scratch.close()
        if not self.journal.entries():
            self.journal.clear()  # nothing left to heal: no stale file pointing at a gone proxy
