"""The backends by name: each is a way to reach a target's stack, chosen with ``--backend``.

A :class:`Backend` opens the run-wide infrastructure (``infra``: the harness's PostgreSQL, fault
proxy and mock provider, started or attached) and makes a stack on it for each scenario
(``new_stack``, not started: the scenario chooses its services and timing). The pytest plugin's
fixtures, the session and ``target check`` take backends from :data:`BACKENDS`, through
:mod:`harness.stack.lifecycle`; adding a backend is one entry here.

- ``local``: the target's services as child processes, next to the harness's own PostgreSQL,
  proxy and provider processes;
- ``docker``: the same as containers; a target file whose services name containers started by
  docker-compose (``harness/target/compose.yaml``) is audited in compose mode on that stack;
- ``external``: a stack that runs already (staging), reached by URL and faulted through handles.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError
from harness.stack.base import Stack
from harness.target.model import Target

Say = Callable[[str], object]
InfraOpener = Callable[[Target, int, Say], AbstractContextManager[Any]]
StackFactory = Callable[[Any, Target, Sequence[str], int], Stack]


@dataclass(frozen=True, kw_only=True)
class Backend:
    """One backend: its name, what it is, and how it opens infrastructure and makes stacks."""

    name: str
    summary: str
    #: the harness starts the target's services itself (so ``--defect`` can switch them); False:
    #: the stack runs already, and faults on it need the target file's ``safety.allow_faults``
    starts_services: bool
    open_infra: InfraOpener
    make_stack: StackFactory

    def infra(self, target: Target, *, seed: int, say: Say = print) -> AbstractContextManager[Any]:
        """The run-wide infrastructure, started on entry and stopped on exit (whatever the exit).

        First reaps what killed runs left behind (processes, scratch folders), whichever backend
        they used: only records whose owner is gone are touched, never a live run's.
        """
        from harness.process.pidfiles import PidFiles

        for line in PidFiles.default().reap_stale():
            say(f"chaos-audit: {line}")
        return self.open_infra(target, seed, say)

    def check_defects(self, defects: Sequence[str]) -> None:
        """Refuse ``--defect`` (ConfigError, exit 2) on a backend whose stack the harness does not start."""
        if not self.starts_services:
            refuse_defects(defects)

    def new_stack(self, infra: Any, target: Target, *, defects: Sequence[str] = (), seed: int = 0) -> Stack:
        """A fresh stack on ``infra`` for one scenario (not started; ``close()`` tears it down)."""
        return self.make_stack(infra, target, defects, seed)


# -- local ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _local_infra(target: Target, seed: int, say: Say) -> Iterator[Any]:
    from harness.stack.infra import LocalInfra

    infra = LocalInfra(seed=seed)
    try:
        infra.start()
        yield infra
    finally:
        infra.close()


def _local_stack(infra: Any, target: Target, defects: Sequence[str], seed: int) -> Stack:
    from harness.stack.local import LocalStack

    return LocalStack(infra, target, defects=defects, seed=seed)


# -- docker (managed containers, or compose mode) -----------------------------------------------------
def _docker_infra(target: Target, seed: int, say: Say) -> AbstractContextManager[Any]:
    from harness.stack.docker import docker_infra

    return docker_infra(target, say=say)  # BackendUnavailable without an engine or an image


def _docker_stack(infra: Any, target: Target, defects: Sequence[str], seed: int) -> Stack:
    stack: Stack = infra.new_stack(target, defects=defects, seed=seed)  # managed or compose
    return stack


# -- external ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def _external_infra(target: Target, seed: int, say: Say) -> Iterator[Any]:
    from harness.stack.external import ExternalInfra

    infra = ExternalInfra(target)
    try:
        infra.start()
        yield infra
    finally:
        infra.close()


def _external_stack(infra: Any, target: Target, defects: Sequence[str], seed: int) -> Stack:
    from harness.stack.external import ExternalStack

    refuse_defects(defects)
    return ExternalStack(infra, target)


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(name="local", summary="local processes (default)", starts_services=True,
                open_infra=_local_infra, make_stack=_local_stack),
        Backend(name="docker", summary="containers (or a docker-compose stack)", starts_services=True,
                open_infra=_docker_infra, make_stack=_docker_stack),
        Backend(name="external", summary="an already running stack", starts_services=False,
                open_infra=_external_infra, make_stack=_external_stack),
    )
}  # fmt: skip


#: why ``--defect`` is refused on a running stack, and what to do instead (every command says it)
DEFECT_NEEDS_OWN_STACK = (
    "needs a stack the harness starts (local or docker backend): on the external backend, switch "
    "the running stack into the defect yourself and audit it as it is"
)


def refuse_defects(defects: Sequence[str], *, option: str = "--defect") -> None:
    """A defect is switched in services the harness starts: none on a stack that runs already."""
    if defects:
        raise ConfigError(f"{option} {DEFECT_NEEDS_OWN_STACK}", field=option)


def backend_names() -> tuple[str, ...]:
    """The ``--backend`` choices."""
    return tuple(BACKENDS)


def get_backend(name: str) -> Backend:
    """The backend called ``name``; a ConfigError naming the known ones otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ConfigError(
            f"unknown backend {name!r} (backends: {', '.join(BACKENDS)})", field="--backend"
        ) from None
