"""Containers as services: start with testcontainers, signal with the docker SDK, reap by label.

A :class:`ContainerService` is the docker backend's counterpart of ``ProcessService`` and
implements the ``Signalable`` protocol faults act on: ``kill`` is ``docker kill`` (SIGKILL to the
whole container: a crash), ``pause``/``resume`` are ``docker pause``/``unpause`` (the cgroup
freezer: the service hangs with its connections open, like SIGSTOP), ``start`` after a kill is
``docker start`` on the same container (same writable layer, same log), ``restart`` and ``stop``.

Every container carries the labels of its run (``chaos-audit.run``) and of the harness process
that owns it (pid and start time). A run removes its containers at the end, also on Ctrl-C; a
SIGKILLed run cannot, so :func:`reap_leftovers` (at the start of every run) removes the
containers whose owner process is gone, as ``PidFiles.reap_stale`` does for processes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ServiceError
from harness.process.pidfiles import is_same_process, process_start_time
from harness.process.readiness import DEFAULT_TIMEOUT_S, ReadinessContext, WaitStrategy, wait_until

if TYPE_CHECKING:
    import docker

# testcontainers reads these when imported: its reaper image cannot be pulled without a registry
# (we reap by label ourselves), and host networking means "the docker host is 127.0.0.1".
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

RUN_LABEL = "chaos-audit.run"
OWNER_PID_LABEL = "chaos-audit.owner-pid"
OWNER_START_LABEL = "chaos-audit.owner-start"
SERVICE_LABEL = "chaos-audit.service"


def docker_client() -> docker.DockerClient:
    """A client of the local engine; ServiceError saying why when there is none."""
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        raise ServiceError(
            f"no Docker engine: {exc}; hint: install docker.io and start dockerd (as root), "
            "or use the local backend"
        ) from exc
    return client


def owner_labels(run_id: str) -> dict[str, str]:
    """Labels tying a container to this run and to this harness process."""
    pid = os.getpid()
    return {
        RUN_LABEL: run_id,
        OWNER_PID_LABEL: str(pid),
        OWNER_START_LABEL: str(process_start_time(pid) or ""),
    }


def labelled(client: docker.DockerClient, label: str) -> list[tuple[Any, dict[str, str], str]]:
    """(container, labels, name) of every container matching ``label`` (``key`` or ``key=value``).

    Sparse listing: one API call, and no per-container inspect that would race with a container
    being removed meanwhile (by its own run, or a parallel one).
    """
    found = client.containers.list(all=True, sparse=True, filters={"label": label})
    return [(c, c.attrs.get("Labels") or {}, (c.attrs.get("Names") or ["?"])[0].lstrip("/")) for c in found]


def reap_leftovers(client: docker.DockerClient) -> list[str]:
    """Remove containers of runs whose harness process is gone; one line per container removed."""
    lines = []
    for container, labels, name in labelled(client, RUN_LABEL):
        try:
            pid, start = int(labels.get(OWNER_PID_LABEL, "")), int(labels.get(OWNER_START_LABEL, ""))
        except ValueError:
            pid, start = 0, 0
        if pid and is_same_process(pid, start):
            continue  # a live run (maybe a parallel one) owns it
        with contextlib.suppress(Exception):
            container.remove(force=True)
            lines.append(f"removed leftover container {name} of run {labels.get(RUN_LABEL)}")
    return lines


def remove_run(client: docker.DockerClient, run_id: str) -> list[str]:
    """Remove every container of ``run_id``; returns errors instead of raising (teardown)."""
    import docker

    errors = []
    for container, _, name in labelled(client, f"{RUN_LABEL}={run_id}"):
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass  # already gone
        except Exception as exc:
            errors.append(f"{name}: {exc}")
    return errors


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    """How to create one container: always on the host network, labelled with its run."""

    image: str
    command: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    user: str | None = None
    entrypoint: Sequence[str] | None = None


class ContainerService:
    """One container of a stack, created on first ``start`` and reused after kill/stop."""

    def __init__(
        self, name: str, spec: ContainerSpec, *, readiness: WaitStrategy | None = None, log_dir: Path
    ) -> None:
        self.name = name
        self.spec = spec
        self.readiness = readiness
        self.log_path = log_dir / f"{name}.log"
        self._container: Any = None  # docker.models.containers.Container

    @classmethod
    def attach(cls, name: str, container: str, *, log_dir: Path) -> ContainerService:
        """A handle on a container started by someone else (compose), found by its name."""
        import docker

        handle = cls(name, ContainerSpec(image="", name=container), log_dir=log_dir)
        try:
            handle._container = docker_client().containers.get(container)
        except docker.errors.NotFound as exc:
            raise ServiceError(
                f"{name}: no container named {container!r}; hint: is the compose stack up "
                "(docker-compose -f docker-compose.chaos.yml ps)?"
            ) from exc
        return handle

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Create and start the container, or start it again after a kill/stop; does not wait."""
        if self._container is None:
            self._container = self._create()
            return
        status = self._status()
        if status == "paused":
            self._container.unpause()
        elif status != "running":
            self._container.start()

    def wait_ready(self, timeout: float = DEFAULT_TIMEOUT_S) -> float:
        """Wait for the readiness strategy; fails fast (with the log) if the container exits."""
        if self.readiness is None:
            return 0.0
        return wait_until(
            self.readiness,
            timeout,
            name=self.name,
            context=ReadinessContext(log_path=self.save_log()),
            exited=self._exit_code,
        )

    def kill(self) -> None:
        """SIGKILL every process of the container (a crash) and return once it has stopped."""
        if self._container is None or self._status() not in ("running", "paused"):
            return
        with contextlib.suppress(Exception):  # it may die on its own in between
            self._container.kill(signal="SIGKILL")
        self._container.wait(timeout=10)

    def pause(self) -> None:
        """Freeze the container (docker pause): it hangs, its connections stay open."""
        if self._container is None or self._status() != "running":
            raise ServiceError(f"{self.name} is not running: cannot pause it")
        self._container.pause()

    def resume(self) -> None:
        """Unfreeze after :meth:`pause`; a no-op otherwise (a heal never fails)."""
        if self._container is not None and self._status() == "paused":
            self._container.unpause()

    def restart(self) -> None:
        """Stop (SIGTERM, then SIGKILL) and start again, keeping the container; does not wait."""
        self.stop()
        self.start()

    def stop(self, timeout: float = 3.0) -> None:
        """docker stop: SIGTERM, SIGKILL after ``timeout`` seconds (unpaused first, so it can act)."""
        if self._container is None:
            return
        self.resume()
        if self._status() == "running":
            self._container.stop(timeout=max(1, round(timeout)))

    def remove(self) -> None:
        """Remove the container (force); the handle can create a fresh one on the next start."""
        if self._container is not None:
            self.save_log()
            with contextlib.suppress(Exception):
                self._container.remove(force=True)
            self._container = None

    @property
    def running(self) -> bool:
        """True while the container runs (paused counts as running, as for processes)."""
        return self._container is not None and self._status() in ("running", "paused")

    @property
    def container_name(self) -> str | None:
        return self.spec.name

    def save_log(self) -> Path:
        """Write the container's output so far (stdout and stderr) to :attr:`log_path`."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self.log_path.write_bytes(self._container.logs(stdout=True, stderr=True))
        return self.log_path

    # -- internals ----------------------------------------------------------------------------------
    def _create(self) -> Any:
        from testcontainers.core.container import DockerContainer

        spec = self.spec
        tc = DockerContainer(spec.image, env=dict(spec.env))
        if spec.command is not None:
            tc.with_command(list(spec.command))
        if spec.name:
            tc.with_name(spec.name)
        extra: dict[str, Any] = {"network": "host", "labels": {**spec.labels, SERVICE_LABEL: self.name}}
        if spec.user:
            extra["user"] = spec.user
        if spec.entrypoint is not None:
            extra["entrypoint"] = list(spec.entrypoint)
        tc.with_kwargs(**extra)
        try:
            tc.start()
        except Exception as exc:
            raise ServiceError(f"{self.name}: could not start a container of {spec.image}: {exc}") from exc
        return tc.get_wrapped_container()

    def _status(self) -> str:
        try:
            self._container.reload()
        except Exception:
            return "removed"
        return str(self._container.status)

    def _exit_code(self) -> int | None:
        """For ``wait_until``: the exit code once the container stopped; keeps the log file fresh
        (it is called once more right before a timeout message quotes the log)."""
        self.save_log()
        if self._status() in ("running", "paused", "created", "restarting"):
            return None
        return int(self._container.attrs.get("State", {}).get("ExitCode", -1)) if self._container else -1
