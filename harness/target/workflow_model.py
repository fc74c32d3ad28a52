"""The ``workflow:`` section of a target file: how to drive and observe multi-step workflows.

The workflow-recovery scenarios (seeds 002-004, ``TEST-WR-*``) speak to a target's workflows only
through this contract: the calls that start a workflow, read it (steps, history, notifications),
recover it, retry or skip a step, and list the workflows needing attention; the credentials of an
owner, another user and an admin; the names of the fields, steps, events and states they read.
A target without the section makes every ``TEST-WR-*`` scenario ``unknown`` naming what is missing.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from harness.target.model import HttpCall, Model


class WorkflowCanonicalState(StrEnum):
    """The workflow and step states the scenarios speak in; ``state_map`` maps a target's names."""

    PENDING = "pending"  #: a step waiting for an earlier one
    QUEUED = "queued"  #: a step ready for a worker
    RUNNING = "running"  #: a workflow in progress / a step a worker holds
    RETRYING = "retrying"  #: a step waiting for its automatic retry
    COMPLETED = "completed"  #: finished successfully (a step's result is stored)
    FAILED = "failed"  #: failed for good; a user can act on it
    SKIPPED = "skipped"  #: an optional step a user skipped
    INTERRUPTED = "interrupted"  #: detected as interrupted (no activity); recover resumes it


class WorkflowAuth(Model):
    """Credentials, as values of ``header``: the owner starts the workflows, ``other_user`` is
    somebody else without admin rights, ``admin`` may act on every workflow."""

    header: str = "Authorization"
    owner: str
    other_user: str | None = None
    admin: str | None = None


class WorkflowFields(Model):
    """Field names in the target's answers (workflow document, history, notifications, attention)."""

    id: str = "id"
    status: str = "status"
    failure_reason: str = "failure_reason"
    correlation_id: str = "correlation_id"
    steps: str = "steps"
    step_name: str = "name"
    step_status: str = "status"
    step_attempts: str = "attempts"
    step_result: str = "result"
    step_worker: str = "worker_id"
    events: str = "events"
    event_step: str = "step"
    event_kind: str = "kind"
    event_worker: str = "worker_id"
    notifications: str = "notifications"
    notification_kind: str = "kind"
    notification_message: str = "message"
    attention: str = "workflows"
    attention_id: str = "id"
    attention_reason: str = "failure_reason"


class WorkflowSteps(Model):
    """The pipeline's steps by the role the scenarios give them.

    ``first`` runs first; ``call`` is a later step that calls the provider and whose result is built
    from ``first``'s stored result (``context``: the call step's result field that must equal the
    first step's result field); ``optional`` may be skipped after it fails.
    """

    names: list[str] = Field(min_length=2)
    first: str
    call: str
    optional: str | None = None
    context: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _roles_name_steps(self) -> WorkflowSteps:
        for role in ("first", "call", "optional"):
            name = getattr(self, role)
            if name is not None and name not in self.names:
                raise ValueError(f"steps.{role}: {name!r} is not one of steps.names {self.names}")
        if self.context and set(self.context) != {"step_field", "from_field"}:
            raise ValueError("steps.context: expected {step_field: ..., from_field: ...}")
        return self


class WorkflowTiming(Model):
    """The target's workflow timings (bounds are derived from them, never slept on blindly)."""

    step_attempts: int = Field(default=3, ge=1)
    inactivity_s: float = Field(default=600.0, gt=0)
    max_recoveries: int = Field(default=3, ge=0)
    #: how long a silent worker keeps its step before it is reassigned (default: ``timing.lease_s``)
    grace_s: float | None = Field(default=None, gt=0)


class WorkflowEvents(Model):
    """The target's names for what the scenarios look for in the history, notifications and logs."""

    commit: str = "committed"
    reassign: str = "reassigned"
    step_failed: str = "step_failed"
    recovered: str = "recovered"
    recovery_failed: str = "recovery_failed"
    retry_log: str = "step.retrying"
    lost_ownership_log: str = "step.lost_ownership"
    attempt_log_field: str = "attempt"


class WorkflowContract(Model):
    """How to drive the target's workflows; each optional call missing makes its scenarios unknown.

    Paths take ``{workflow_id}`` and ``{step}``; ``provider_item`` is the item id a step's provider
    call carries (so the ledger tells which step called).
    """

    start: HttpCall
    get: HttpCall
    history: HttpCall | None = None
    notifications: HttpCall | None = None
    recover: HttpCall | None = None
    retry_step: HttpCall | None = None
    skip_step: HttpCall | None = None
    attention: HttpCall | None = None
    provider_item: str = "{workflow_id}/{step}"
    auth: WorkflowAuth
    fields: WorkflowFields = Field(default_factory=WorkflowFields)
    steps: WorkflowSteps
    timing: WorkflowTiming = Field(default_factory=WorkflowTiming)
    events: WorkflowEvents = Field(default_factory=WorkflowEvents)
    state_map: dict[str, WorkflowCanonicalState] = Field(default_factory=dict)
