"""How a backend that starts the target's services wires them: addresses, placeholders, readiness.

Shared by the local and docker backends (the external backend starts nothing). A service's
``{db_url}`` / ``{provider_url}`` / ``{broker_url}`` go through the fault proxy when the target file
has a link from that service to the database / provider / broker, so a fault on ``worker-1-db``
reaches only worker-1.
"""

from __future__ import annotations

import itertools
import os
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from harness.faults.provider.client import ProviderClient
from harness.faults.proxy.client import ProxyClient
from harness.process.ports import free_port
from harness.process.readiness import HttpReady, PortReady, SqlReady, WaitStrategy
from harness.stack.base import Stack
from harness.stack.render import timing_values
from harness.target.model import Target

_stack_ids = itertools.count(1)


class Infra(Protocol):
    """What a backend's session-wide infrastructure gives each stack."""

    provider: ProviderClient
    proxy: ProxyClient
    work_dir: Path


class WiredStack(Stack):
    """A stack whose services the harness starts; subclasses say where PostgreSQL and the provider are."""

    #: whether the services run on this machine's file system (``{target_dir}`` means something there)
    sees_host_files = True

    def __init__(self, infra: Infra, target: Target, *, defects: Sequence[str] = (), seed: int = 0) -> None:
        super().__init__(target, defects=defects, seed=seed)
        self.provider = infra.provider
        self.proxy = infra.proxy
        self.stack_id = next(_stack_ids)
        self.dbname = f"scenario_{os.getpid()}_{self.stack_id}"
        self.work_dir = infra.work_dir / f"stack-{self.stack_id}"
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._db_created = False
        self._proxies: dict[str, str] = {}  # link name -> the proxy's listen address
        self._ports: dict[str, int] = {}  # service name -> its allocated port
        self._timing: dict[str, Any] = {}

    @property
    @abstractmethod
    def db_port(self) -> int:
        """PostgreSQL's port on 127.0.0.1."""

    @property
    @abstractmethod
    def provider_port(self) -> int:
        """The mock provider's port on 127.0.0.1."""

    @property
    def broker_port(self) -> int | None:
        """The broker's port on 127.0.0.1, when the target has a ``role: broker`` service this
        backend started (only the local backend does)."""
        return None

    @property
    def python(self) -> str:
        """What ``{python}`` means for this backend's services."""
        return "python"

    def _upstream_of(self, service: str) -> str:
        """Where a link to ``service`` really goes."""
        role = self.target.services[service].role
        if role == "db":
            return f"127.0.0.1:{self.db_port}"
        if role == "provider":
            return f"127.0.0.1:{self.provider_port}"
        if role == "broker" and self.broker_port is not None:
            return f"127.0.0.1:{self.broker_port}"
        return f"127.0.0.1:{self._ports.setdefault(service, free_port())}"

    def _values_for(self, name: str, port: int) -> dict[str, Any]:
        """The placeholders of service ``name``'s command and env."""
        db_link, provider_link = self._link_to_role(name, "db"), self._link_to_role(name, "provider")
        db_host = self._proxies[db_link] if db_link else f"127.0.0.1:{self.db_port}"
        provider_host = self._proxies[provider_link] if provider_link else f"127.0.0.1:{self.provider_port}"
        broker: dict[str, Any] = {}
        if self.broker_port is not None:
            broker_link = self._link_to_role(name, "broker")
            broker_host = self._proxies[broker_link] if broker_link else f"127.0.0.1:{self.broker_port}"
            broker["broker_url"] = f"redis://{broker_host}/0"
        return {
            "python": self.python,
            "port": port,
            "service": name,
            "db_url": f"postgresql://postgres@{db_host}/{self.dbname}",
            "provider_url": f"http://{provider_host}",
            "defects": ",".join(self.defects),
            "seed": self.seed,
            **broker,
            **self._file_values(),
            **timing_values(self._timing),
        }

    def _file_values(self) -> dict[str, Any]:
        """``{target_dir}``: the target file's directory, for services that see this machine's files."""
        directory = self.target.directory
        return {"target_dir": str(directory)} if directory is not None and self.sees_host_files else {}

    def _link_to_role(self, source: str, role: str) -> str | None:
        for to in self.target.services_with_role(role):  # type: ignore[arg-type]
            link = self.target.link_between(source, to)
            if link:
                return link
        return None

    def _readiness(self, name: str, port: int) -> WaitStrategy | None:
        ready = self.target.services[name].ready
        if ready is None:
            return None
        if ready.http:
            return HttpReady(f"http://127.0.0.1:{port}{ready.http}")
        if ready.sql:
            return SqlReady(self.db_dsn, ready.sql)
        if ready.port:
            return PortReady("127.0.0.1", port)
        return None
