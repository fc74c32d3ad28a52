"""Fault handles on services the harness did not start: a Docker container, or the user's commands.

Both implement the ``Signalable`` protocol faults act on, so ``Faults.kill(worker)`` works the
same on a staging stack as on the local backend. Why commands at all: a staging system runs
under systemd, Kubernetes or a PaaS the harness knows nothing about, while its operators know the
one command that crashes or freezes a service there. A verb the file leaves out raises
``CapabilityMissing`` naming it (the scenario is ``unknown``); a command that fails is a
``FaultError`` (a harness error, never a finding against the target) carrying its stderr tail.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.errors import CapabilityMissing, FaultError, ServiceError
from harness.stack.base import Signalable
from harness.stack.memory import parse_kb
from harness.target.handle_model import Command, CommandsHandleSpec, HandleSpec

if TYPE_CHECKING:
    from harness.stack.containers import ContainerService

#: how often ``wait_alive`` asks ``alive``
ALIVE_INTERVAL_S = 0.1
#: how long ``kill`` waits for ``alive`` to say the service is gone (a supervisor may restart it
#: at once, so this is a settle time, not an error)
KILL_SETTLE_S = 5.0


class Handle(Signalable, Protocol):
    """A Signalable that can also say which faults it supports (before any is tried)."""

    def can(self, verb: str) -> bool: ...

    def save_log(self) -> Path | None:
        """The service's output so far in a file, where the handle can read it (a container's)."""
        ...

    def memory_kb(self) -> int | None:
        """The service's resident memory in kB, where the handle can read it (a ``memory_kb`` command)."""
        ...


def describe(command: Command) -> str:
    return command if isinstance(command, str) else " ".join(command)


class CommandHandle:
    """A service acted on through the commands of its ``handle.commands``."""

    def __init__(self, name: str, spec: CommandsHandleSpec) -> None:
        self.name = name
        self.spec = spec

    def can(self, verb: str) -> bool:
        """Whether the faults using ``verb`` (kill, pause, resume, start, restart) can run."""
        if verb in ("start", "restart"):
            return self.spec.start is not None or self.spec.restart is not None
        return getattr(self.spec, verb, None) is not None

    def save_log(self) -> Path | None:
        return None  # a command handle's service logs where the file's ``logs.paths`` says

    def kill(self) -> None:
        """Run ``kill``, then wait (bounded) until ``alive`` says it is gone: a fault that returned
        before the crash happened would let the scenario's next step race the dying process."""
        self._run("kill")
        deadline = time.monotonic() + min(KILL_SETTLE_S, self.spec.timeout_s)
        while self.running and time.monotonic() < deadline:
            time.sleep(ALIVE_INTERVAL_S)

    def pause(self) -> None:
        self._run("pause")

    def resume(self) -> None:
        self._run("resume")

    def start(self) -> None:
        """Start it when stopped: ``start``, else ``restart``."""
        if not self.can("start"):
            raise CapabilityMissing(f"services.{self.name}.handle.commands.start (or restart)")
        self._run("start" if self.spec.start is not None else "restart")

    def restart(self) -> None:
        """Bring it back: ``restart``, else kill then ``start``."""
        if self.spec.restart is not None:
            self._run("restart")
        else:
            if self.running:
                self.kill()
            self._run("start")

    def stop(self, timeout: float = 0.0) -> None:
        """There is no graceful stop verb: stopping a staging service for a fault is a kill."""
        self.kill()

    @property
    def running(self) -> bool:
        """``alive`` exited 0 (a paused service is still alive)."""
        return self._exec("alive").returncode == 0

    def memory_kb(self) -> int | None:
        """What ``memory_kb`` prints (resident memory, kB); None without the verb or a number."""
        if self.spec.memory_kb is None:
            return None
        done = self._exec("memory_kb", capture=True)
        if done.returncode != 0:
            return None
        return parse_kb(done.stdout.decode(errors="replace"))

    # -- internals ------------------------------------------------------------------------------
    def _run(self, verb: str) -> None:
        done = self._exec(verb)
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip()[-500:] or "(no stderr)"
            raise FaultError(
                f"services.{self.name}.handle.commands.{verb}: `{describe(self._command(verb))}` "
                f"exited {done.returncode}: {tail}"
            )

    def _command(self, verb: str) -> Command:
        command: Command | None = getattr(self.spec, verb)
        if command is None:
            raise CapabilityMissing(f"services.{self.name}.handle.commands.{verb}")
        return command

    def _exec(self, verb: str, *, capture: bool = False) -> subprocess.CompletedProcess[bytes]:
        command = self._command(verb)
        try:
            return subprocess.run(
                command,
                shell=isinstance(command, str),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=self.spec.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise FaultError(
                f"services.{self.name}.handle.commands.{verb}: `{describe(command)}` did not finish "
                f"within {self.spec.timeout_s:g}s (handle.commands.timeout_s)"
            ) from exc
        except OSError as exc:
            raise FaultError(
                f"services.{self.name}.handle.commands.{verb}: cannot run `{describe(command)}`: {exc}"
            ) from exc


class DockerHandle:
    """A container by name; the engine is reached lazily, so a missing one fails the fault, not the load."""

    def __init__(self, name: str, container: str, *, log_dir: Path) -> None:
        self.name = name
        self.container = container
        self.log_dir = log_dir
        self._service: ContainerService | None = None

    def can(self, verb: str) -> bool:
        return True

    def memory_kb(self) -> int | None:
        return None  # not read from a container yet: TEST-RR-Q03's memory check stays unknown there

    def save_log(self) -> Path | None:
        """The container's output so far (``docker logs``) in a file: its log, no path needed."""
        try:
            return self._svc().save_log()
        except FaultError:
            return None

    def _svc(self) -> ContainerService:
        if self._service is None:
            from harness.stack.containers import ContainerService

            try:
                self._service = ContainerService.attach(self.name, self.container, log_dir=self.log_dir)
            except ServiceError as exc:
                raise FaultError(f"services.{self.name}.handle.docker: {exc}") from exc
        return self._service

    def kill(self) -> None:
        self._svc().kill()

    def pause(self) -> None:
        self._svc().pause()

    def resume(self) -> None:
        self._svc().resume()

    def start(self) -> None:
        self._svc().start()  # docker start after a kill (unpause when paused)

    def restart(self) -> None:
        """Start after a kill (SIGKILL first when it still runs): the crash-and-recover of a fault."""
        self._svc().kill()
        self._svc().start()

    def stop(self, timeout: float = 3.0) -> None:
        self._svc().kill()

    @property
    def running(self) -> bool:
        return self._svc().running


def handle_for(name: str, spec: HandleSpec, *, log_dir: Path) -> Handle:
    """The handle a ``services.<name>.handle`` describes."""
    if spec.docker is not None:
        return DockerHandle(name, spec.docker.container, log_dir=log_dir)
    assert spec.commands is not None  # HandleSpec validates exactly one
    return CommandHandle(name, spec.commands)


def wait_alive(handle: Signalable, *, timeout: float, want: bool = True) -> None:
    """Until ``handle.running`` is ``want`` (a start command may return before the service runs)."""
    deadline = time.monotonic() + timeout
    while handle.running is not want:
        if time.monotonic() > deadline:
            state = "running" if want else "stopped"
            raise ServiceError(f"{handle.name}: not {state} within {timeout:g}s of its handle's command")
        time.sleep(ALIVE_INTERVAL_S)
