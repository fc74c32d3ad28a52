"""Fault handles and safety of a target file: how the harness acts on services it did not start.

On the local and docker backends the harness starts every service, so it can signal them itself.
A running stack (``--backend external``: staging, a Kubernetes namespace, systemd units) was
started by somebody else: each service the audit may crash or freeze says *how*, as a ``handle``:

- ``handle: {docker: {container: NAME}}``: a container on a Docker engine (``DOCKER_HOST`` is
  honoured, so the engine may be remote); kill is SIGKILL, pause is ``docker pause``;
- ``handle: {commands: {kill: [...], alive: [...], ...}}``: commands the user writes (``ssh host
  systemctl kill -s KILL worker@1``, ``kubectl delete pod ...``). Only ``kill`` and ``alive`` are
  required: a verb left out makes only the faults that need it ``unknown``, naming the verb.
  ``memory_kb`` is no fault: it prints the service's resident memory in kB (TEST-RR-Q03 reads it).

The ``safety`` section exists because faulting a shared environment by mistake is costly: the
external backend refuses to inject anything until the file says ``allow_faults: true``.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from harness.target.model import Model

#: one command: an argv list (run as is) or a single string (run by ``/bin/sh -c``)
Command = list[str] | str
#: the verbs of a commands handle, in the order the docs list them
COMMAND_VERBS = ("kill", "pause", "resume", "restart", "start", "alive")


class DockerHandleSpec(Model):
    """A container found by name on the engine ``DOCKER_HOST`` points at (default: the local one)."""

    container: str = Field(min_length=1)


class CommandsHandleSpec(Model):
    """User-written commands acting on one service; ``alive`` exits 0 while the service runs."""

    kill: Command
    alive: Command
    pause: Command | None = None
    resume: Command | None = None
    restart: Command | None = None  #: bring it back after a kill (default: ``start``)
    start: Command | None = None  #: start it when stopped (default: ``restart``)
    #: prints the service's resident memory in kB (its first number), e.g. ``ps -o rss= -p PID``
    memory_kb: Command | None = None
    timeout_s: float = Field(default=30.0, gt=0)  #: each command's limit (ssh and kubectl can hang)

    @field_validator("kill", "alive", "pause", "resume", "restart", "start", "memory_kb")
    @classmethod
    def _not_empty(cls, v: Command | None) -> Command | None:
        if v is not None and (not v or (isinstance(v, list) and not v[0])):
            raise ValueError("an empty command: give an argv list or a shell string")
        return v

    @model_validator(mode="after")
    def _pause_needs_resume(self) -> CommandsHandleSpec:
        if (self.pause is None) != (self.resume is None):
            raise ValueError("pause and resume go together (a pause nobody can heal is not allowed)")
        return self


class HandleSpec(Model):
    """Exactly one way to act on a running service."""

    docker: DockerHandleSpec | None = None
    commands: CommandsHandleSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> HandleSpec:
        if (self.docker is None) == (self.commands is None):
            raise ValueError("give exactly one of docker or commands")
        return self


class Safety(Model):
    """What the audit may do to the environment the target file points at.

    ``allow_faults`` must be ``true`` for the external backend to inject anything: a target file
    copied from a colleague never faults an environment by surprise. ``abort_if_unhealthy_s``
    stops the run (everything healed, exit 3) when the API stays unhealthy that long while no
    fault of the audit is active: the system is hurt by something else, or by a fault not healed.
    """

    environment: str = Field(min_length=1)
    allow_faults: bool = False
    abort_if_unhealthy_s: float | None = Field(default=None, gt=0)
