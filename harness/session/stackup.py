"""Bring a stack up outside pytest, the way the plugin's ``chaos_infra`` / ``chaos_stack`` fixtures do.

The session is one long "scenario": the backend's infrastructure (PostgreSQL, fault proxy, mock
provider) and one stack on it, started with every service of the target file, and torn down in
reverse order on the way out, whatever way out it is (quit, EOF, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from harness.errors import ServiceError
from harness.stack.base import Stack
from harness.target.model import Target


@contextlib.contextmanager
def open_stack(
    target: Target, backend: str, *, seed: int, defects: Sequence[str] = (), say: Any = print
) -> Iterator[Stack]:
    """Start (local, docker) or reach (external) the target's stack; yields it started."""
    with contextlib.ExitStack() as cleanup:
        stack = _new_stack(cleanup, target, backend, seed=seed, defects=defects, say=say)
        cleanup.callback(stack.close)
        stack.start()
        yield stack


def _new_stack(
    cleanup: contextlib.ExitStack,
    target: Target,
    backend: str,
    *,
    seed: int,
    defects: Sequence[str],
    say: Any,
) -> Stack:
    if backend == "docker":
        return _docker_stack(cleanup, target, seed=seed, defects=defects)
    if backend == "external":
        from harness.stack.external import ExternalInfra, ExternalStack

        if defects:
            raise ServiceError("--defect needs a stack the harness starts (local or docker backend)")
        external = ExternalInfra(target)
        cleanup.callback(external.close)
        external.start()
        return ExternalStack(external, target)
    from harness.process.pidfiles import PidFiles
    from harness.stack.infra import LocalInfra
    from harness.stack.local import LocalStack

    for line in PidFiles.default().reap_stale():
        say(f"chaos-audit: {line}")
    infra = LocalInfra(seed=seed)
    cleanup.callback(infra.close)
    infra.start()
    return LocalStack(infra, target, defects=defects, seed=seed)


def _docker_stack(
    cleanup: contextlib.ExitStack, target: Target, *, seed: int, defects: Sequence[str]
) -> Stack:
    """The docker backend's infra generator is the plugin's; its pytest skip becomes a ServiceError."""
    from harness.stack.docker import docker_infra

    infra_gen = docker_infra(target)
    try:
        infra = next(infra_gen)
    except BaseException as exc:
        if type(exc).__name__ == "Skipped":  # pytest.skip: no engine or no image
            raise ServiceError(str(exc).removeprefix("unknown: ")) from None
        raise
    cleanup.callback(lambda: next(infra_gen, None))  # runs the generator's finally: containers removed
    stack: Stack = infra.new_stack(target, defects=defects, seed=seed)
    return stack
