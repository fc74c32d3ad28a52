"""How a backend that starts the target's services wires them: addresses, placeholders, readiness.

Shared by the local and docker backends (the external backend starts nothing). A service's
``{db_url}`` / ``{provider_url}`` go through the fault proxy when the target file has a link from
that service to the database / provider, so a fault on ``worker-1-db`` reaches only worker-1.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from harness.process.readiness import HttpReady, PortReady, SqlReady, WaitStrategy
from harness.stack.base import Stack
from harness.stack.render import timing_values
from harness.store.postgres import free_port


class WiredStack(Stack):
    """A stack whose services the harness starts; subclasses say where PostgreSQL and the provider are."""

    dbname: str
    _proxies: dict[str, str]  # link name -> the proxy's listen address
    _ports: dict[str, int]  # service name -> its allocated port
    _timing: dict[str, Any]

    @property
    @abstractmethod
    def db_port(self) -> int:
        """PostgreSQL's port on 127.0.0.1."""

    @property
    @abstractmethod
    def provider_port(self) -> int:
        """The mock provider's port on 127.0.0.1."""

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
        return f"127.0.0.1:{self._ports.setdefault(service, free_port())}"

    def _values_for(self, name: str, port: int) -> dict[str, Any]:
        """The placeholders of service ``name``'s command and env."""
        db_link, provider_link = self._link_to_role(name, "db"), self._link_to_role(name, "provider")
        db_host = self._proxies[db_link] if db_link else f"127.0.0.1:{self.db_port}"
        provider_host = self._proxies[provider_link] if provider_link else f"127.0.0.1:{self.provider_port}"
        return {
            "python": self.python,
            "port": port,
            "service": name,
            "db_url": f"postgresql://postgres@{db_host}/{self.dbname}",
            "provider_url": f"http://{provider_host}",
            "defects": ",".join(self.defects),
            "seed": self.seed,
            **timing_values(self._timing),
        }

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
