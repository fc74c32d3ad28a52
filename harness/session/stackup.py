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
    target: Target,
    backend: str,
    *,
    seed: int,
    defects: Sequence[str] = (),
    say: Any = print,
    faults: bool = True,
) -> Iterator[Stack]:
    """Start (local, docker) or reach (external) the target's stack; yields it started.

    ``faults``: whether faults will be injected; on the external backend they need the target
    file's ``safety.allow_faults`` (``target check`` injects none, so it passes False).
    """
    with contextlib.ExitStack() as cleanup:
        if backend == "external":
            _external_checks(target, defects=defects, faults=faults, say=say)
        stack = _new_stack(cleanup, target, backend, seed=seed, defects=defects, say=say)
        cleanup.callback(stack.close)
        stack.start()
        yield stack


def _external_checks(target: Target, *, defects: Sequence[str], faults: bool, say: Any) -> None:
    """Refuse (ConfigError, exit 2) before reaching a running environment the run may not touch."""
    from harness.errors import ConfigError
    from harness.stack.safety import plan_lines, require_faults_allowed

    if defects:
        raise ConfigError(
            "--defect needs a stack the harness starts (local or docker backend)", field="--defect"
        )
    if faults:
        for line in plan_lines(target):
            say(line)
        require_faults_allowed(target)


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
