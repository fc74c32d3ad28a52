"""A group of services started together and always stopped together, leaving no process behind.

Stack-agnostic: anything shaped like :class:`Service` (a local process, later a container) fits.
On exit, also on an exception or Ctrl-C, every service is resumed if paused and stopped, in
reverse start order, with interrupts deferred so that a second Ctrl-C cannot cut the cleanup in
half. Each service forgets its pid record when it is reaped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Protocol

from harness.errors import ServiceError
from harness.process.readiness import DEFAULT_TIMEOUT_S
from harness.process.service import STOP_TIMEOUT_S
from harness.process.signals import shield_interrupts

log = logging.getLogger(__name__)


class Service(Protocol):
    """A handle on one service of a stack, whatever runs it (``ProcessService`` is one)."""

    @property
    def name(self) -> str:
        """Unique name within a stack (api, worker-1, db...)."""
        ...

    @property
    def paused(self) -> bool:
        """True while SIGSTOPped (or the backend's equivalent)."""
        ...

    def start(self) -> None:
        """Start without waiting."""
        ...

    def wait_ready(self, timeout: float = ...) -> float:
        """Block until ready; raise ``ServiceError`` if it cannot be."""
        ...

    def pause(self) -> None:
        """Freeze it (SIGSTOP or the backend's equivalent): it hangs, its connections stay open."""
        ...

    def resume(self) -> None:
        """Undo a pause; never fails on a stopped service."""
        ...

    def stop(self, timeout: float = ...) -> None:
        """Graceful stop, forced after ``timeout``; returns once the service is gone."""
        ...

    def kill(self) -> None:
        """Immediate kill; returns once the service is gone."""
        ...

    def restart(self, *, kill: bool = ...) -> None:
        """Stop (or kill) and start again, without waiting for readiness."""
        ...


class ServiceGroup:
    """Starts services in order and guarantees they are all stopped on exit.

    ``parallel_start=False`` (default) waits for each service to be ready before starting the
    next, so a later one may depend on an earlier one (db before api); ``True`` starts them all,
    then waits for each, which is faster when they are independent.
    """

    def __init__(
        self,
        services: Iterable[Service],
        *,
        ready_timeout: float = DEFAULT_TIMEOUT_S,
        stop_timeout: float = STOP_TIMEOUT_S,
        parallel_start: bool = False,
    ) -> None:
        self._services = list(services)
        names = [s.name for s in self._services]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate service names: {', '.join(duplicates)}")
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.parallel_start = parallel_start

    def start(self) -> None:
        """Start every service and wait until each is ready; on failure stop what was started, re-raise."""
        try:
            if self.parallel_start:
                for service in self._services:
                    service.start()
                for service in self._services:
                    service.wait_ready(self.ready_timeout)
            else:
                for service in self._services:
                    service.start()
                    service.wait_ready(self.ready_timeout)
        except BaseException:
            self._close_quietly()
            raise

    def close(self) -> None:
        """Resume paused services and stop all, in reverse order; raise ``ServiceError`` if one resisted.

        A service that cannot be stopped gracefully is killed; the others are stopped regardless.
        """
        errors: list[str] = []
        with shield_interrupts():
            for service in reversed(self._services):
                try:
                    service.resume()
                    service.stop(self.stop_timeout)
                except Exception as exc:
                    errors.append(f"{service.name}: {exc}")
                    try:
                        service.kill()
                    except Exception as kill_exc:
                        errors.append(f"{service.name} (kill): {kill_exc}")
        if errors:
            raise ServiceError("could not stop every service cleanly: " + "; ".join(errors))

    def __getitem__(self, name: str) -> Service:
        for service in self._services:
            if service.name == name:
                return service
        raise KeyError(f"no service {name!r} in this group (have: {', '.join(self.names)})")

    def __iter__(self) -> Iterator[Service]:
        return iter(self._services)

    def __len__(self) -> int:
        return len(self._services)

    @property
    def names(self) -> list[str]:
        """Service names in start order."""
        return [s.name for s in self._services]

    def _close_quietly(self) -> None:
        try:
            self.close()
        except ServiceError as exc:  # the original exception matters more; keep this one visible
            log.warning("%s", exc)

    def __enter__(self) -> ServiceGroup:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._close_quietly()
