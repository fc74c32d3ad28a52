"""The target contract: everything the harness needs to know about a system under test.

A *target file* (YAML) is parsed into these frozen models. Scenarios only ever speak to a target
through this contract (HTTP calls, its database, its logs, signals to its services), so the same
scenarios audit the built-in reference target, a user's staging stack, or any job system.

Field names double as the documentation of the file format (see docs/target-file.md).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)


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
    ``url`` (or ``dsn`` for a database) reaches an already-running one on the external backend,
    where ``handle`` says how to kill, pause and restart it (``container`` is short for
    ``handle: {docker: {container: NAME}}``). ``attach: true`` on the proxy or the provider means
    the one at ``url`` runs already (persistent): the harness uses it and never starts or stops it.
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
    handle: HandleSpec | None = None
    attach: bool = False

    @model_validator(mode="after")
    def _handle_and_attach(self) -> Service:
        if self.container and self.handle is not None:
            raise ValueError("give container or handle, not both (container is short for handle.docker)")
        if self.attach and (self.role not in ("proxy", "provider") or not self.url):
            raise ValueError("attach: true is for a proxy or provider service with a url (already running)")
        return self

    @property
    def fault_handle(self) -> HandleSpec | None:
        """The handle faults act through on the external backend (``container`` included)."""
        if self.handle is not None:
            return self.handle
        if self.container:
            return HandleSpec(docker=DockerHandleSpec(container=self.container))
        return None


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


class ItemFields(Model):
    """Where one item of the ``observe.items`` answer says what a scenario needs.

    Each value is a dotted path into the item's JSON (``error.kind``). Omitted: the checks that read
    it are ``unknown``, with a hint; ``null``: the system has no such field, and a check looking for
    a capability the seeds require of a system (a retry count, say) fails with that finding. With
    ``conventions: canonical`` an omitted field is the canonical name (harness/target/conventions.py).
    """

    holder: str | None = None  #: the worker *service* holding (or last holding) the item
    output: str | None = None  #: the stored result
    error_kind: str | None = None  #: timeout | provider_5xx | provider_4xx | malformed ...
    error_status: str | None = None  #: the provider's HTTP status of the last error
    error_message: str | None = None
    retry_count: str | None = None  #: user retries of the item
    attempts: str | None = None  #: provider attempts
    deliveries: str | None = None  #: times a worker took the item


class BatchFields(Model):
    """Where the ``observe.batch`` answer says what a scenario needs (dotted paths; null = absent)."""

    total: str | None = None  #: number of items
    completed: str | None = None  #: items completed
    summary: str | None = None  #: the outcome as a user reads it ("3 items failed due to ...")
    paused: str | None = None  #: true while the batch waits for its provider (circuit open)
    reason: str | None = None  #: why the batch is in its state
    truncated: str | None = None  #: true when a loop over its source stopped at its bound


class HealthFields(Model):
    """Where the ``observe.health`` answer identifies the running API process."""

    boot_id: str | None = None  #: changes whenever the API process restarts


class MetricsFields(Model):
    """Where the ``observe.metrics`` answer carries the queue's numbers."""

    queue_depth: str | None = None  #: jobs waiting in the queue
    processing: str | None = None  #: items being processed now
    completed: str | None = None  #: items completed so far
    batches_completed: str | None = None  #: batches completed so far


class Observe(Model):
    """How to read batch and item states (mapped onto canonical states)."""

    batch: HttpCall
    items: HttpCall | None = None
    status_field: str = "status"
    items_field: str | None = None
    item_status_field: str = "status"
    item_id_field: str = "id"  #: the item's id in each entry of the items answer
    item_seq_field: str = "seq"
    state_map: dict[str, CanonicalState] = Field(default_factory=dict)
    #: canonical states the system does not have (e.g. ``[partial, timeout]``): the checks that look
    #: for one of them fail with that finding instead of being ``unknown``
    lacks_states: list[CanonicalState] = Field(default_factory=list)
    #: the target's own worker ids -> service names (harness/target/holders.py)
    holders: dict[str, str] = Field(default_factory=dict)
    #: a regex whose ``pid`` group is the holder's process id (``'(?P<pid>\\d+)$'`` for ``host.1234``)
    holder_pid: str | None = None
    page: str | None = None
    health: HttpCall | None = None
    metrics: HttpCall | None = None
    item_fields: ItemFields = Field(default_factory=ItemFields)
    batch_fields: BatchFields = Field(default_factory=BatchFields)
    health_fields: HealthFields = Field(default_factory=HealthFields)
    metrics_fields: MetricsFields = Field(default_factory=MetricsFields)


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
    #: named invariant queries replacing the canonical ones (``null`` = the target cannot answer it)
    invariants: dict[str, str | None] = Field(default_factory=dict)
    #: named observation queries replacing the canonical ones (``null`` = not offered); see
    #: ``harness/target/observations.sql`` for each name, its parameters and its columns
    observations: dict[str, str | None] = Field(default_factory=dict)

    @field_validator("observations")
    @classmethod
    def _known_observations(cls, v: dict[str, str | None]) -> dict[str, str | None]:
        unknown = sorted(set(v) - set(STORE_OBSERVATIONS))
        if unknown:
            raise ValueError(f"unknown observation {unknown[0]!r} (known: {', '.join(STORE_OBSERVATIONS)})")
        return v

    @model_validator(mode="after")
    def _dsn_when_external(self) -> Database:
        if self.kind == "external" and not self.dsn:
            raise ValueError("database.kind external needs database.dsn (a postgresql:// URL)")
        return self


#: the moments scenarios look for in a target's logs (``logs.events.<name>``), with what each means
LOG_EVENTS: dict[str, str] = {
    "create_received": "the API received a create request (logged before it commits)",
    "enqueued": "a batch's items were put on the queue",
    "claimed": "a worker took an item",
    "provider_call": "a worker called the provider (with the answer's status and duration)",
    "stored": "a worker stored an item's result",
    "completed": "an item completed",
    "failed": "an item failed",
    "retrying": "an item will be retried automatically",
    "ownership_lost": "a worker found that another worker owns its item now and dropped its result",
    "client_gone": "the API noticed that a waiting client went away",
    "truncated": "a loop (e.g. over a paginated listing) stopped at its bound",
}
#: store observations a target answers by name (``database.observations.<name>``)
STORE_OBSERVATIONS = ("batches", "items", "results", "transitions", "workers")


LogFormat = Literal["json", "logfmt", "text", "regex"]


class Logs(Model):
    """Where the services log, how to read a line (``format``), and how to find one flow in them.

    Every reader of the logs (scenarios, ``target check``) parses lines with harness.logparse, so
    the format is declared here once rather than guessed per scenario.
    """

    #: ``json``: one object a line; ``logfmt`` (``text`` is the same): ``key=value`` pairs, after an
    #: optional prefix such as ``2026-12-06 12:00:00,123 ERROR``; ``regex``: ``pattern``'s named groups
    format: LogFormat = "json"
    #: with ``format: regex`` (and only then): a Python regex searched in each line (``^`` anchors it);
    #: its named groups are the line's fields, a line it does not match is skipped
    pattern: str | None = Field(default=None, validate_default=True)
    correlation_field: str | None = None  #: null: its logs carry no correlation id (a finding)
    item_field: str | None = None
    batch_field: str | None = None
    event_field: str = "event"
    level_field: str = "level"
    paths: dict[str, str] = Field(default_factory=dict)
    #: the target's event names for the moments scenarios look for (canonical name -> the target's
    #: event, or a ``|``-separated list of them); ``null`` = the target does not log that moment
    events: dict[str, str | None] = Field(default_factory=dict)

    @field_validator("events")
    @classmethod
    def _known_events(cls, v: dict[str, str | None]) -> dict[str, str | None]:
        unknown = sorted(set(v) - set(LOG_EVENTS))
        if unknown:
            raise ValueError(f"unknown event {unknown[0]!r} (known: {', '.join(LOG_EVENTS)})")
        return v

    @field_validator("pattern")
    @classmethod
    def _pattern_for_regex(cls, v: str | None, info: ValidationInfo) -> str | None:
        """Compiled now, so a typo is exit 2 naming ``logs.pattern``, not an audit that reads nothing."""
        fmt = info.data.get("format")
        if v is None:
            if fmt == "regex":
                raise ValueError("format regex needs a pattern: a regex with named groups, e.g. "
                                 r"'(?P<level>[A-Z]+) (?P<event>\S+) item=(?P<item_id>\d+)'")  # fmt: skip
            return v
        if fmt is not None and fmt != "regex":
            raise ValueError(f"a pattern is read only with format: regex (format is {fmt})")
        try:
            compiled = re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid Python regex: {exc}") from exc
        if not compiled.groupindex:
            raise ValueError(r"no named group: name each field, e.g. (?P<event>\S+)")
        return v


class Timing(Model):
    """The target's own timings: scenarios derive their bounds (never sleeps) from these.

    A limit the system does not have is ``null`` (``none``): no job deadline, no retry or delivery
    limit, no breaker, no pagination bound. The checks looking for it then fail with that finding,
    and the scenario waits a generous bound (:data:`GENEROUS`) for anything else to end the work.
    """

    lease_s: float = Field(default=1.0, gt=0)
    heartbeat_s: float = Field(default=0.3, gt=0)
    provider_timeout_s: float = Field(default=1.0, gt=0)
    batch_deadline_s: float | None = Field(default=30.0, gt=0)
    max_attempts: int | None = Field(default=3, ge=1)
    max_deliveries: int | None = Field(default=3, ge=1)
    breaker_threshold: int | None = Field(default=3, ge=1)
    breaker_cooldown_s: float | None = Field(default=0.5, gt=0)
    pagination_max_pages: int | None = Field(default=50, ge=1)
    pagination_max_s: float | None = Field(default=5.0, gt=0)
    max_duration_s: float = Field(default=10.0, gt=0)

    @field_validator("*", mode="before")
    @classmethod
    def _none_word(cls, v: Any) -> Any:
        return None if isinstance(v, str) and v.strip().lower() in ("none", "null") else v

    def bounds(self) -> dict[str, Any]:
        """The timings as numbers a scenario can wait on: a limit the system lacks is a generous bound."""
        return {k: GENEROUS[k] if v is None else v for k, v in self.model_dump().items()}


#: the bound a scenario uses for a limit the target declares it lacks (``timing.<name>: none``): long
#: enough that only a missing limit reaches it, short enough to end the audit
GENEROUS: dict[str, float] = {
    "batch_deadline_s": 60.0,
    "max_attempts": 10,
    "max_deliveries": 10,
    "breaker_threshold": 10,
    "breaker_cooldown_s": 2.0,
    "pagination_max_pages": 500,
    "pagination_max_s": 30.0,
}


class Defects(Model):
    """How to switch a target into a named defect, and which scenarios must catch each one.

    ``caught_by`` makes the target's own detection matrix (``chaos-audit matrix --target FILE``):
    each defect with the scenario ids that must fail when it is switched on. The reference target
    leaves it empty: its defects are the catalogue's (harness.catalog).
    """

    env: str
    names: list[str] = Field(default_factory=list)
    caught_by: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _caught_defects_are_named(self) -> Defects:
        unnamed = sorted(set(self.caught_by) - set(self.names))
        if unnamed:
            raise ValueError(f"caught_by: {', '.join(unnamed)} not in defects.names")
        empty = sorted(d for d, ids in self.caught_by.items() if not ids)
        if empty:
            raise ValueError(f"caught_by.{empty[0]}: name at least one scenario id")
        return self


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
    #: ``canonical``: every field, store observation and invariant the file omits takes the canonical
    #: schema's answer (harness/target/conventions.py); without it, omitted means not answered
    conventions: Literal["canonical"] | None = None
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
    #: ``package.module:Class`` answering observations YAML cannot express (see harness.target.adapter)
    adapter: str | None = None
    workflow: WorkflowContract | None = None  # multi-step workflows (harness/target/workflow_model.py)
    safety: Safety | None = None  # what the external backend may do (harness/target/handle_model.py)
    #: the directory of the file this target was loaded from (not a YAML field: the loader sets it);
    #: the value of ``{target_dir}`` in service commands and env. None for a target built from data.
    _directory: Path | None = PrivateAttr(default=None)

    @property
    def directory(self) -> Path | None:
        """The absolute directory of the target file, when the target was loaded from one."""
        return self._directory

    @model_validator(mode="before")
    @classmethod
    def _conventions(cls, data: Any) -> Any:
        from harness.target.conventions import apply_conventions

        return apply_conventions(data)

    @model_validator(mode="after")
    def _holders_name_services(self) -> Target:
        for holder, service in self.observe.holders.items():
            if service not in self.services:
                raise ValueError(f"observe.holders.{holder}: unknown service {service!r}")
        if self.observe.holder_pid is not None:
            import re

            try:
                compiled = re.compile(self.observe.holder_pid)
            except re.error as exc:
                raise ValueError(f"observe.holder_pid: not a regular expression ({exc})") from exc
            if "pid" not in compiled.groupindex:
                raise ValueError("observe.holder_pid: needs a named group (?P<pid>...)")
        return self

    @model_validator(mode="after")
    def _links_name_services(self) -> Target:
        for name, link in self.links.items():
            for end in (link.source, link.to):
                if end not in self.services:
                    known = ", ".join(sorted(self.services))
                    raise ValueError(f"links.{name}: unknown service {end!r} (services: {known})")
        return self

    @field_validator("adapter")
    @classmethod
    def _adapter_imports(cls, v: str | None) -> str | None:
        if v is not None:
            from harness.target.adapter import adapter_class

            try:
                adapter_class(v)
            except Exception as exc:  # reported by pydantic with the field's path
                raise ValueError(str(exc).removeprefix("adapter: ")) from exc
        return v

    def services_with_role(self, role: ServiceRole) -> list[str]:
        """Names of the services with ``role``, in file order."""
        return [name for name, svc in self.services.items() if svc.role == role]

    def link_between(self, source: str, to: str) -> str | None:
        """Name of the proxied link from ``source`` to ``to``, if there is one."""
        for name, link in self.links.items():
            if link.source == source and link.to == to:
                return name
        return None


from harness.target.handle_model import (  # noqa: E402 (imports Model above)
    DockerHandleSpec,
    HandleSpec,
    Safety,
)
from harness.target.workflow_model import WorkflowContract  # noqa: E402 (imports Model, HttpCall above)
