"""The target contract: everything the harness needs to know about a system under test.

A *target file* (YAML) is parsed into these frozen models. Scenarios only ever speak to a target
through this contract (HTTP calls, its database, its logs, signals to its services), so the same
scenarios audit the built-in reference target, a user's staging stack, or any job system.

Field names double as the documentation of the file format (see docs/target-file.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class CanonicalState(StrEnum):
    """The job/item states every audit speaks in; a target maps its own names onto these."""

    QUEUED = "queued"  #: accepted, not yet picked up
    PROCESSING = "processing"  #: a worker holds it
    COMPLETED = "completed"  #: finished successfully (terminal)
    FAILED = "failed"  #: finished with an error (retry-eligible)
    PARTIAL = "partial"  #: a batch with some items completed and some not
    RETRYING = "retrying"  #: failed once, waiting for an automatic retry
    CANCELLED = "cancelled"  #: stopped by a user (terminal)
    TIMEOUT = "timeout"  #: exceeded its time limit (retry-eligible)
    DEAD = "dead"  #: dead-lettered after too many deliveries


class Model(BaseModel):
    """Base of every target-file model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class HttpCall(Model):
    """One HTTP call template; ``{name}`` placeholders in path and body are filled per call."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str
    body: dict[str, Any] | None = None

    @field_validator("path")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("expected a path starting with '/', e.g. /v1/batches")
        return v


class Readiness(Model):
    """How to know a service is ready: an HTTP path that answers 2xx, a TCP port, or SQL."""

    http: str | None = None
    port: bool = False
    sql: str | None = None
    timeout_s: float = Field(default=20.0, gt=0)


ServiceRole = Literal["api", "worker", "db", "provider", "proxy", "broker", "other"]
ProcessFaultName = Literal["kill", "pause", "restart"]
ALL_PROCESS_FAULTS: tuple[ProcessFaultName, ...] = ("kill", "pause", "restart")


class Service(Model):
    """A named service of the stack and the faults it allows.

    ``command``/``env`` start it on the local backend; ``image`` on the docker backend;
    ``url`` (or ``dsn`` for a database) reaches an already-running one on the external backend.
    """

    role: ServiceRole
    command: list[str] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    image: str | None = None
    url: str | None = None
    container: str | None = None
    ready: Readiness | None = None
    #: extra server arguments of a store the harness starts itself (role ``broker``: redis-server
    #: arguments such as ``["--appendonly", "yes"]``; the broker's durability is the target's choice)
    args: list[str] = Field(default_factory=list)
    faults: list[ProcessFaultName] = Field(default_factory=lambda: list(ALL_PROCESS_FAULTS))


class Link(Model):
    """A connection routed through the fault proxy, e.g. ``worker-1 -> db``.

    On the local and docker backends the harness picks addresses itself. On the external backend
    your services already run, so the link says where the proxy listens (``listen``, which your
    service must be configured to use) and where it forwards to (``upstream``).
    """

    source: str = Field(alias="from")
    to: str
    listen: str | None = None
    upstream: str | None = None


class Trigger(Model):
    """How to start a batch of N items."""

    create: HttpCall
    idempotency_header: str | None = "Idempotency-Key"
    correlation_header: str | None = "X-Correlation-Id"
    id_field: str = "id"


class Observe(Model):
    """How to read batch and item states (mapped onto canonical states)."""

    batch: HttpCall
    items: HttpCall | None = None
    status_field: str = "status"
    items_field: str | None = None
    item_status_field: str = "status"
    item_seq_field: str = "seq"
    state_map: dict[str, CanonicalState] = Field(default_factory=dict)
    page: str | None = None
    health: HttpCall | None = None
    metrics: HttpCall | None = None


class Control(Model):
    """Optional control calls; a missing one makes the scenarios needing it ``unknown``."""

    cancel: HttpCall | None = None
    retry_item: HttpCall | None = None
    retry_failed: HttpCall | None = None
    recover: HttpCall | None = None
    result: HttpCall | None = None
    attention: HttpCall | None = None


class Database(Model):
    """The target's database: embedded (the harness creates it) or an external DSN."""

    kind: Literal["embedded", "external"] = "embedded"
    dsn: str | None = None
    invariants: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _dsn_when_external(self) -> Database:
        if self.kind == "external" and not self.dsn:
            raise ValueError("database.kind external needs database.dsn (a postgresql:// URL)")
        return self


class Logs(Model):
    """Where the services log and how to find one flow in them."""

    format: Literal["json", "text"] = "json"
    correlation_field: str = "correlation_id"
    item_field: str = "item_id"
    event_field: str = "event"
    level_field: str = "level"
    paths: dict[str, str] = Field(default_factory=dict)


class Timing(Model):
    """The target's own timings: scenarios derive their bounds (never sleeps) from these."""

    lease_s: float = Field(default=1.0, gt=0)
    heartbeat_s: float = Field(default=0.3, gt=0)
    provider_timeout_s: float = Field(default=1.0, gt=0)
    batch_deadline_s: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    max_deliveries: int = Field(default=3, ge=1)
    breaker_threshold: int = Field(default=3, ge=1)
    breaker_cooldown_s: float = Field(default=0.5, gt=0)
    pagination_max_pages: int = Field(default=50, ge=1)
    pagination_max_s: float = Field(default=5.0, gt=0)
    max_duration_s: float = Field(default=10.0, gt=0)


class Defects(Model):
    """How to switch a target into a named defect (the reference target supports this)."""

    env: str
    names: list[str] = Field(default_factory=list)


class Workflow(Model):
    """One long-running workflow of the target, for the report's workflow inventory."""

    name: str
    trigger: str = ""
    steps: list[str] = Field(default_factory=list)
    duration: str = ""
    dependencies: list[str] = Field(default_factory=list)
    risk: Literal["HIGH", "MEDIUM", "LOW"] = "HIGH"
    checkpoint: bool | None = None
    resume: bool | None = None
    idempotent_retry: bool | None = None


class Target(Model):
    """A whole target file."""

    schema_version: Literal[1] = 1
    name: str
    description: str = ""
    services: dict[str, Service]
    links: dict[str, Link] = Field(default_factory=dict)
    trigger: Trigger
    observe: Observe
    control: Control = Field(default_factory=Control)
    database: Database = Field(default_factory=Database)
    logs: Logs = Field(default_factory=Logs)
    timing: Timing = Field(default_factory=Timing)
    defects: Defects | None = None
    workflows: list[Workflow] = Field(default_factory=list)

    @model_validator(mode="after")
    def _links_name_services(self) -> Target:
        for name, link in self.links.items():
            for end in (link.source, link.to):
                if end not in self.services:
                    known = ", ".join(sorted(self.services))
                    raise ValueError(f"links.{name}: unknown service {end!r} (services: {known})")
        return self

    def services_with_role(self, role: ServiceRole) -> list[str]:
        """Names of the services with ``role``, in file order."""
        return [name for name, svc in self.services.items() if svc.role == role]

    def link_between(self, source: str, to: str) -> str | None:
        """Name of the proxied link from ``source`` to ``to``, if there is one."""
        for name, link in self.links.items():
            if link.source == source and link.to == to:
                return name
        return None
