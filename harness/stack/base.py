"""The Stack base: lifecycle shared by every backend; backends fill a few hooks.

Like testcontainers' ``DockerContainer``, the base owns the order of things (prepare, start the
target's services, close) and each backend (local, docker, external) only says *how*: create a
database, start one service, tear down. Faults act through the primitives exposed here
(``process(name)``, ``proxy_name(link)``, ``kill_db()`` ...), never around them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from harness.errors import ConfigError
from harness.faults.provider.client import ProviderClient
from harness.faults.proxy.client import ProxyClient
from harness.stack.timing import changes_needed
from harness.target.model import Target

#: services the harness provides itself on the local backend (never started from a command)
INFRA_ROLES = ("db", "provider", "proxy", "broker")


class Signalable(Protocol):
    """What a process fault needs from a service: a real process, or a container."""

    name: str

    def kill(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def start(self) -> None: ...
    def restart(self) -> None: ...
    def stop(self, timeout: float = ...) -> None: ...

    @property
    def running(self) -> bool: ...


class Stack(ABC):
    """A target's services, brought up for one scenario and torn down after it."""

    provider: ProviderClient
    proxy: ProxyClient

    def __init__(self, target: Target, *, defects: Sequence[str] = (), seed: int = 0) -> None:
        if defects and target.defects is None:
            raise ConfigError(
                f"target {target.name!r} has no defects section: --defect needs one", field="--defect"
            )
        self.target = target
        self.defects = tuple(defects)
        self.seed = seed  # the run's seed, handed to the target as {seed} (e.g. its retry jitter)
        self.api_url: str | None = None
        self.db_dsn = ""
        #: the target's timings as bounds (a limit it declares absent is a generous bound)
        self.timing: dict[str, Any] = target.timing.bounds()
        self.started: list[str] = []
        #: services ``start`` was asked to leave out (a running stack holds such workers down)
        self.left_out: set[str] = set()

    def _check_overrides_reach(self, timing: Mapping[str, Any]) -> None:
        """A timing the scenario changes must reach the services (``{timing.X}`` in a command, env or
        args): otherwise the stack keeps its own setting, and a bound derived from the override would
        judge a correct target wrongly. Unknown then, naming the field, never a false fail."""
        changed = [k for k, v in timing.items() if self.timing.get(k) != v]
        if not changed:
            return
        text = " ".join(
            " ".join([*(s.command or []), *s.env.values(), *s.args]) for s in self.target.services.values()
        )
        unreached = [k for k in changed if "{timing." + k + "}" not in text]
        if unreached:
            from harness.errors import Undecidable

            key = unreached[0]
            raise Undecidable(
                f"timing.{key}: the scenario needs it changed, but no service of the target file takes "
                f"{{timing.{key}}}, so the stack's own setting would stay",
                field=f"timing.{key}",
            )

    # -- lifecycle ------------------------------------------------------------------------------
    def start(
        self, *, services: Sequence[str] | None = None, timing: Mapping[str, Any] | None = None
    ) -> None:
        """Prepare the stack, then start ``services`` (default: every non-infra service).

        ``timing`` overrides values of the target file's timing section for this scenario (e.g. a
        short batch deadline), and reaches the services through ``{timing.X}`` placeholders; a value
        may be a bound (``harness.stack.timing.at_least(5.0)``) that the file's value may already meet.
        """
        unknown = set(timing or {}) - set(self.timing)
        if unknown:
            raise ConfigError(f"unknown timing override(s): {sorted(unknown)}", field="timing")
        changes = changes_needed(self.timing, timing or {})
        self._check_overrides_reach(changes)
        self.timing.update(changes)
        self._prepare(self.timing)
        names = list(services) if services is not None else self.default_services()
        for name in names:
            if name not in self.target.services:
                known = sorted(self.target.services)
                raise ConfigError(f"unknown service {name!r} (services: {known})", field="services")
        self.left_out.update(n for n in self.default_services() if n not in names)
        self._start_services(sorted(names, key=lambda n: self.target.services[n].role != "api"))
        for name in names:
            if name not in self.started:
                self.started.append(name)

    def logged_services(self) -> list[str]:
        """Services whose logs are read besides the started ones (a running stack's, by the file)."""
        return list(self.target.logs.paths)

    def default_services(self) -> list[str]:
        return [n for n, s in self.target.services.items() if s.role not in INFRA_ROLES]

    def start_service(self, name: str) -> None:
        """Start one service of the target file (e.g. a worker started after the batch exists)."""
        if name not in self.target.services:
            raise ConfigError(
                f"unknown service {name!r} (services: {sorted(self.target.services)})", field="services"
            )
        self._start_service(name)
        if name not in self.started:
            self.started.append(name)

    def memory_kb(self, name: str) -> int | None:
        """Service ``name``'s resident memory in kB, None where this backend cannot read it (here: the
        pid of the process it started, ``/proc/<pid>/status``)."""
        from harness.stack.memory import vm_rss_kb

        try:
            return vm_rss_kb(getattr(self.process(name), "pid", None))
        except Exception:  # a backend without process handles
            return None

    def close(self) -> None:
        """Tear everything down; safe to call twice and after a failed start."""
        self._teardown()

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- backend hooks ---------------------------------------------------------------------------
    def _start_services(self, names: Sequence[str]) -> None:
        """Start several services (a backend may start them in parallel); default: one by one."""
        for name in names:
            self._start_service(name)

    @abstractmethod
    def _prepare(self, timing: Mapping[str, Any]) -> None:
        """Fresh database, proxies for the links, clean provider."""

    @abstractmethod
    def _start_service(self, name: str) -> None:
        """Start (or start again) one service and wait until it is ready."""

    @abstractmethod
    def _teardown(self) -> None:
        """Stop services, remove proxies, drop the database."""

    @abstractmethod
    def process(self, name: str) -> Signalable:
        """The handle process faults act on."""

    @abstractmethod
    def proxy_name(self, link: str) -> str:
        """The fault proxy's name for a link of the target file."""

    @abstractmethod
    def log_path(self, service: str) -> Path | None:
        """Where a service's log lines are (None if unknown)."""

    @abstractmethod
    def kill_db(self) -> None: ...

    @abstractmethod
    def start_db(self) -> None: ...

    @abstractmethod
    def pause_db(self) -> None: ...

    @abstractmethod
    def resume_db(self) -> None: ...
