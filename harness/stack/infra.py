"""Session-wide infrastructure of the local backend: PostgreSQL, fault proxy, mock provider.

Started once per run (cold start is the expensive part) and reset between scenarios: each
scenario gets a fresh database, no proxies, an empty provider ledger.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.faults.control_token import control_headers
from harness.faults.provider.client import ProviderClient
from harness.faults.proxy.client import ProxyClient
from harness.process.ports import free_port
from harness.process.readiness import HttpReady
from harness.process.scratch import ScratchDir
from harness.process.service import ProcessService
from harness.store.postgres import EmbeddedPostgres


class LocalInfra:
    """A real PostgreSQL, the fault proxy and the mock provider, as child processes."""

    def __init__(
        self, *, work_dir: Path | None = None, keep_logs: bool = False, seed: int | None = None
    ) -> None:
        self._scratch = ScratchDir("chaos-audit-run-", path=work_dir, keep=keep_logs)
        self.work_dir = self._scratch.path
        self.pg = EmbeddedPostgres(base_dir=None)
        proxy_port, provider_port = free_port(), free_port()
        self.proxy_url = f"http://127.0.0.1:{proxy_port}"
        self.provider_url = f"http://127.0.0.1:{provider_port}"
        self.provider_port = provider_port
        cli = [sys.executable, "-m", "harness.cli"]
        self.proxy_service = ProcessService(
            name="proxy",
            argv=[*cli, "proxy", "--host", "127.0.0.1", "--port", str(proxy_port)]
            + (["--seed", str(seed)] if seed is not None else []),  # toxicity draws follow the run's seed
            log_path=self.work_dir / "proxy.log",
            readiness=HttpReady(f"{self.proxy_url}/version", headers=control_headers()),
        )
        self.provider_service = ProcessService(
            name="provider",
            argv=[*cli, "provider", "--host", "127.0.0.1", "--port", str(provider_port)],
            log_path=self.work_dir / "provider.log",
            readiness=HttpReady(f"{self.provider_url}/_control/health", headers=control_headers()),
        )
        self.proxy = ProxyClient(self.proxy_url)
        self.provider = ProviderClient(self.provider_url)

    def start(self) -> None:
        """Start all three in parallel-friendly order; returns when each answers."""
        self.proxy_service.start()
        self.provider_service.start()
        self.pg.start()
        self.proxy_service.wait_ready(timeout=20)
        self.provider_service.wait_ready(timeout=20)

    def close(self) -> None:
        """Stop everything, also after a failed start, and remove the run's temp dir (service logs
        worth keeping are copied into the report dir by the plugin before this runs)."""
        try:
            for svc in (self.proxy_service, self.provider_service):
                try:
                    svc.stop()
                except Exception:  # keep stopping the rest
                    svc.kill()
            self.pg.close()
        finally:
            self._scratch.close()
