"""The docker backend: every service of the stack is a container on the host network.

Mirrors the local backend (``infra.py`` + ``local.py``): a session-wide :class:`DockerInfra`
(PostgreSQL, the fault proxy, the mock provider, each a container bound to 127.0.0.1) and, per
scenario, a :class:`DockerStack` with a fresh database, one proxy per link of the target file, and
the target's services as containers of the harness image (or of ``services.X.image``), started
from the same ``command``/``env`` templates (``{python}`` is the image's interpreter). Faults act
on containers through :class:`~harness.stack.containers.ContainerService`, so the scenarios are
unchanged. Every container is labelled with the run; see ``containers.py`` for cleanup.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg

from harness.errors import BackendUnavailable, ConfigError, ServiceError
from harness.faults.control_token import control_headers
from harness.faults.provider.client import ProviderClient
from harness.faults.proxy.client import ProxyClient
from harness.images import ImageSet, resolve
from harness.process.ports import free_port
from harness.process.readiness import HttpReady, SqlReady
from harness.process.scratch import ScratchDir
from harness.stack.compose import ComposeInfra, is_compose_target
from harness.stack.containers import (
    ContainerService,
    ContainerSpec,
    docker_client,
    owner_labels,
    reap_leftovers,
    remove_run,
)
from harness.stack.render import placeholder_names, render
from harness.stack.wiring import WiredStack
from harness.target.model import Target


class DockerInfra:
    """PostgreSQL, the fault proxy and the mock provider as containers, shared by a session."""

    def __init__(self, *, work_dir: Path | None = None, images: ImageSet | None = None) -> None:
        self.client = docker_client()
        self.run_id = f"{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}"
        self.labels = owner_labels(self.run_id)
        self._scratch = ScratchDir("chaos-audit-docker-", path=work_dir)
        self.work_dir = self._scratch.path
        self.images, self.notes = resolve(images or ImageSet.configured(), self._unavailable)
        self.pg_port, proxy_port, self.provider_port = free_port(), free_port(), free_port()
        self.proxy_url = f"http://127.0.0.1:{proxy_port}"
        self.provider_url = f"http://127.0.0.1:{self.provider_port}"
        self.pg = ContainerService(
            "db", self._postgres_spec(), readiness=SqlReady(self.dsn("postgres")), log_dir=self.work_dir
        )
        proxy_cmd = ["-host", "127.0.0.1", "-port", str(proxy_port)]
        if not self.images.proxy_is_toxiproxy:
            proxy_cmd = ["chaos-audit", "proxy", "--host", "127.0.0.1", "--port", str(proxy_port)]
        self.proxy_service = ContainerService(
            "proxy",
            ContainerSpec(
                image=self.images.proxy, command=proxy_cmd, labels=self.labels, name=self._name("proxy")
            ),
            readiness=HttpReady(f"{self.proxy_url}/version", headers=control_headers()),
            log_dir=self.work_dir,
        )
        provider_cmd = ["chaos-audit", "provider", "--host", "127.0.0.1", "--port", str(self.provider_port)]
        self.provider_service = ContainerService(
            "provider",
            ContainerSpec(
                image=self.images.harness,
                command=provider_cmd,
                labels=self.labels,
                name=self._name("provider"),
            ),
            readiness=HttpReady(f"{self.provider_url}/_control/health", headers=control_headers()),
            log_dir=self.work_dir,
        )
        self.proxy = ProxyClient(self.proxy_url)
        self.provider = ProviderClient(self.provider_url)
        atexit.register(self.close)  # a last resort if the caller's finally never runs

    def start(self) -> None:
        """Start the three containers together, then wait until each answers."""
        services = (self.pg, self.proxy_service, self.provider_service)
        for svc in services:
            svc.start()
        for svc in services:
            svc.wait_ready(timeout=60)

    def close(self) -> None:
        """Remove every container of this run (also those of stacks that were not closed)."""
        atexit.unregister(self.close)
        try:
            errors = remove_run(self.client, self.run_id)
        finally:
            self._scratch.close()
        if errors:
            raise ServiceError("could not remove containers: " + "; ".join(errors))

    def new_stack(self, target: Target, *, defects: Sequence[str] = (), seed: int = 0) -> DockerStack:
        """A fresh stack for one scenario (what ``chaos_stack`` yields)."""
        return DockerStack(self, target, defects=defects, seed=seed)

    def dsn(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{dbname}"

    def sql(self, statement: str) -> None:
        """Run one statement on the server (CREATE/DROP DATABASE need autocommit)."""
        try:
            with psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=10) as conn:
                conn.execute(statement.encode())
        except psycopg.Error as exc:
            raise ServiceError(f"PostgreSQL container: {statement}: {exc}") from exc

    def ensure_db_running(self) -> None:
        """Bring PostgreSQL back if a scenario left it killed or paused (teardown needs it)."""
        self.pg.resume()
        if not self.pg.running:
            self.pg.start()
        self.pg.wait_ready(timeout=30)

    def _name(self, service: str) -> str:
        return f"chaos-audit-{self.run_id}-{service}"

    def _postgres_spec(self) -> ContainerSpec:
        env = {"PGPORT": str(self.pg_port)}
        name = self._name("db")
        if self.images.postgres_offline:
            return ContainerSpec(
                image=self.images.postgres,
                entrypoint=["chaos-audit-postgres"],
                env=env,
                labels=self.labels,
                name=name,
            )
        settings = ["listen_addresses=127.0.0.1", "fsync=off", "full_page_writes=off", "max_connections=200"]
        command = ["postgres", "-p", str(self.pg_port), *(a for s in settings for a in ("-c", s))]
        env["POSTGRES_HOST_AUTH_METHOD"] = "trust"
        return ContainerSpec(
            image=self.images.postgres, command=command, env=env, labels=self.labels, name=name
        )

    def _unavailable(self, image: str) -> str | None:
        """None if ``image`` is local or could be pulled now, else the reason."""
        import docker

        try:
            self.client.images.get(image)
            return None
        except docker.errors.ImageNotFound:
            pass
        try:
            self.client.images.pull(image)
            return None
        except docker.errors.APIError as exc:
            return f"not present and cannot be pulled: {exc.explanation or exc}"


class DockerStack(WiredStack):
    """One scenario's stack on the docker backend."""

    sees_host_files = False  # containers see the image's files, not the directory of the target file

    def __init__(
        self, infra: DockerInfra, target: Target, *, defects: Sequence[str] = (), seed: int = 0
    ) -> None:
        super().__init__(infra, target, defects=defects, seed=seed)
        self.infra: DockerInfra = infra
        self._services: dict[str, ContainerService] = {}

    # -- Stack hooks ------------------------------------------------------------------------
    def _prepare(self, timing: Mapping[str, Any]) -> None:
        brokers = self.target.services_with_role("broker")
        if brokers:
            raise ConfigError(
                f"services.{brokers[0]}.role: a broker is not supported on the docker backend yet "
                "(use --backend local, which starts Redis itself)",
                field=f"services.{brokers[0]}.role",
            )
        self._timing = dict(timing)
        self.provider.reset()
        self.infra.sql(f'CREATE DATABASE "{self.dbname}"')
        self._db_created = True
        self.db_dsn = self.infra.dsn(self.dbname)
        for name, link in self.target.links.items():
            created = self.proxy.create_proxy(
                name=self.proxy_name_of(name), listen="127.0.0.1:0", upstream=self._upstream_of(link.to)
            )
            self._proxies[name] = created.listen

    def _start_service(self, name: str) -> None:
        spec = self.target.services[name]
        if spec.command is None and spec.image is None:
            raise ConfigError(
                f"services.{name}: the docker backend needs an image or a command", field=f"services.{name}"
            )
        if name not in self._services:
            _refuse_host_paths(name, [*(spec.command or []), *spec.env.values()])
            port = self._ports.setdefault(name, free_port())
            values = self._values_for(name, port)
            command = [render(a, values, where=f"services.{name}.command") for a in spec.command or []]
            env = {k: render(v, values, where=f"services.{name}.env.{k}") for k, v in spec.env.items()}
            container = ContainerSpec(
                image=spec.image or self.infra.images.harness,
                command=command or None,
                env=env,
                labels=self.infra.labels,
                name=f"chaos-audit-{self.infra.run_id}-s{self.stack_id}-{name}",
            )
            self._services[name] = ContainerService(
                name, container, readiness=self._readiness(name, port), log_dir=self.work_dir
            )
        svc = self._services[name]
        svc.start()
        if spec.ready is not None:
            svc.wait_ready(timeout=spec.ready.timeout_s)
        if spec.role == "api" and self.api_url is None:
            self.api_url = f"http://127.0.0.1:{self._ports[name]}"

    def _teardown(self) -> None:
        errors: list[str] = []
        for svc in self._services.values():
            svc.remove()  # docker rm -f: nothing of the scenario outlives it
        for name in list(self._proxies):
            try:
                self.proxy.delete_proxy(self.proxy_name_of(name))
            except Exception as exc:
                errors.append(f"proxy {name}: {exc}")
        self._proxies.clear()
        if self._db_created:
            self.infra.ensure_db_running()
            self.infra.sql(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            self._db_created = False
        if errors:
            raise ServiceError("teardown was not clean: " + "; ".join(errors))

    def process(self, name: str) -> ContainerService:
        if name not in self._services:
            raise ServiceError(
                f"service {name!r} was not started in this stack (started: {sorted(self._services)})"
            )
        return self._services[name]

    def proxy_name(self, link: str) -> str:
        if link not in self._proxies:
            raise ConfigError(
                f"no link {link!r} in the target file (links: {sorted(self._proxies)})", field="links"
            )
        return self.proxy_name_of(link)

    def proxy_name_of(self, link: str) -> str:
        return f"s{self.stack_id}-{link}"

    def log_path(self, service: str) -> Path | None:
        svc = self._services.get(service)
        return svc.save_log() if svc else None

    def kill_db(self) -> None:
        self.infra.pg.kill()

    def start_db(self) -> None:
        self.infra.pg.start()
        self.infra.pg.wait_ready(timeout=30)

    def pause_db(self) -> None:
        self.infra.pg.pause()

    def resume_db(self) -> None:
        self.infra.pg.resume()

    # -- internals ------------------------------------------------------------------------------
    @property
    def db_port(self) -> int:
        return int(self.infra.pg_port)

    @property
    def provider_port(self) -> int:
        return int(self.infra.provider_port)


def _refuse_host_paths(name: str, templates: Sequence[str]) -> None:
    """``{target_dir}`` is a path on this machine: a container does not see it, so say so by name."""
    if any("target_dir" in placeholder_names(t) for t in templates):
        raise ConfigError(
            f"services.{name}: {{target_dir}} is a directory on this machine, which the docker backend's "
            "containers do not see; build the service's code into its image (services.<name>.image) "
            "or use --backend local",
            field=f"services.{name}",
        )


@contextlib.contextmanager
def docker_infra(
    target: Target | None = None, *, say: Callable[[str], object] = print
) -> Iterator[DockerInfra | ComposeInfra]:
    """The docker backend's run-wide infrastructure (``harness.stack.backends``), started.

    A target whose services name containers and have no commands (``harness/target/compose.yaml``)
    is audited in compose mode (:mod:`harness.stack.compose`): nothing is started. Otherwise the
    stack's containers are started here. ``BackendUnavailable`` when there is no engine or no
    harness image (the plugin makes every scenario ``unknown`` with it); removes leftovers of
    killed runs first; removes this run's containers at the end, also on Ctrl-C. Each scenario's
    stack is ``infra.new_stack(target, defects=...)``.
    """
    infra: DockerInfra | ComposeInfra
    try:
        lines = reap_leftovers(docker_client())
        infra = ComposeInfra(target) if target is not None and is_compose_target(target) else DockerInfra()
    except ServiceError as exc:
        raise BackendUnavailable(f"docker backend unavailable: {exc}") from exc
    notes = infra.notes if isinstance(infra, DockerInfra) else []
    for line in [*lines, *notes]:
        say(f"chaos-audit: {line}")
    try:
        infra.start()
        yield infra
    finally:
        infra.close()
