"""Speak to a target's workflows through its ``workflow:`` contract (every call is a history op).

``WorkflowClient.of(client)`` raises ``CapabilityMissing("workflow")`` for a target without the
section, and each optional call raises ``CapabilityMissing("workflow.<call>")`` when absent, so a
scenario needing it ends ``unknown`` naming the missing field. ``as_`` picks the credentials:
``owner`` (default), ``other`` (another user), ``admin``, or ``None`` (no credentials at all).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from harness.errors import CapabilityMissing
from harness.stack.render import render
from harness.target.client import Answer, TargetClient
from harness.target.workflow_model import WorkflowContract

Who = Literal["owner", "other", "admin"] | None


@dataclass(frozen=True, kw_only=True)
class StepView:
    """One step as the target reports it (``state`` canonical)."""

    name: str
    state: str
    attempts: int | None
    result: Any
    worker: str | None
    raw: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class WorkflowView:
    """A workflow as the target reports it (``state`` canonical; steps by name, in order)."""

    id: str
    state: str
    failure_reason: str | None
    correlation_id: str | None
    steps: dict[str, StepView]
    raw: dict[str, Any]


class WorkflowClient:
    """The workflow calls of one target, made through a ``TargetClient`` (same history, session)."""

    def __init__(self, client: TargetClient, contract: WorkflowContract) -> None:
        self.client = client
        self.c = contract

    @classmethod
    def of(cls, client: TargetClient) -> WorkflowClient:
        if client.target.workflow is None:
            raise CapabilityMissing("workflow")
        return cls(client, client.target.workflow)

    # -- transport ------------------------------------------------------------------------------
    def _headers(self, who: Who) -> dict[str, str]:
        auth = self.c.auth
        value = {"owner": auth.owner, "other": auth.other_user, "admin": auth.admin, None: None}[who]
        if who is not None and value is None:
            raise CapabilityMissing(f"workflow.auth.{'other_user' if who == 'other' else who}")
        return {auth.header: value} if value is not None else {}

    def _call(self, name: str, values: dict[str, Any], who: Who, *, timeout: float = 10.0) -> Answer:
        call = getattr(self.c, name)
        if call is None:
            raise CapabilityMissing(f"workflow.{name}")
        return self.client.call(f"workflow.{name}", call, values, headers=self._headers(who), timeout=timeout)

    def canonical(self, state: str) -> str:
        mapped = self.c.state_map.get(state)
        return mapped.value if mapped is not None else state

    # -- calls ----------------------------------------------------------------------------------
    def start(self, *, who: Who = "owner", topic: str | None = None) -> Answer:
        return self._call("start", {"topic": topic or uuid.uuid4().hex[:8]}, who)

    def start_id(self, *, who: Who = "owner") -> str:
        answer = self.start(who=who)
        if not answer.ok:
            raise AssertionError(f"starting a workflow answered {answer.status}: {answer.body}")
        return self.id_of(answer)

    def id_of(self, answer: Answer) -> str:
        return str(answer.body[self.c.fields.id])

    def get(self, workflow_id: str, *, who: Who = "owner") -> WorkflowView:
        answer = self._call("get", {"workflow_id": workflow_id}, who)
        if not answer.ok:
            raise AssertionError(f"reading workflow {workflow_id} answered {answer.status}: {answer.body}")
        return self.view(answer.body)

    def view(self, body: dict[str, Any]) -> WorkflowView:
        f = self.c.fields
        steps = {}
        for s in body.get(f.steps) or []:
            steps[str(s[f.step_name])] = StepView(
                name=str(s[f.step_name]),
                state=self.canonical(str(s[f.step_status])),
                attempts=s.get(f.step_attempts),
                result=s.get(f.step_result),
                worker=s.get(f.step_worker),
                raw=s,
            )
        return WorkflowView(
            id=str(body[f.id]),
            state=self.canonical(str(body[f.status])),
            failure_reason=body.get(f.failure_reason),
            correlation_id=body.get(f.correlation_id),
            steps=steps,
            raw=body,
        )

    def state(self, workflow_id: str) -> str:
        return self.get(workflow_id, who="admin" if self.c.auth.admin else "owner").state

    def history(self, workflow_id: str, *, who: Who = "owner") -> list[dict[str, Any]]:
        """History entries as ``{step, kind, worker, raw}``."""
        f = self.c.fields
        body = self._call("history", {"workflow_id": workflow_id}, who).body
        return [{"step": e.get(f.event_step), "kind": e.get(f.event_kind), "worker": e.get(f.event_worker),
                 "raw": e} for e in body[f.events]]  # fmt: skip

    def notifications(self, workflow_id: str, *, who: Who = "owner") -> list[dict[str, Any]]:
        """The owner's notifications about the workflow as ``{kind, message, raw}``."""
        f = self.c.fields
        body = self._call("notifications", {"workflow_id": workflow_id}, who).body
        return [{"kind": n.get(f.notification_kind), "message": str(n.get(f.notification_message) or ""),
                 "raw": n} for n in body[f.notifications]]  # fmt: skip

    def recover(self, workflow_id: str, *, who: Who = "owner") -> Answer:
        return self._call("recover", {"workflow_id": workflow_id}, who)

    def retry_step(self, workflow_id: str, step: str, *, who: Who = "owner") -> Answer:
        return self._call("retry_step", {"workflow_id": workflow_id, "step": step}, who)

    def skip_step(self, workflow_id: str, step: str, *, who: Who = "owner") -> Answer:
        return self._call("skip_step", {"workflow_id": workflow_id, "step": step}, who)

    def attention(self, *, who: Who = "admin") -> Answer:
        return self._call("attention", {}, who)

    def attention_rows(self) -> dict[str, dict[str, Any]]:
        """The admin attention list: workflow id -> its row."""
        f = self.c.fields
        answer = self.attention()
        if not answer.ok:
            raise AssertionError(f"the attention list answered {answer.status}: {answer.body}")
        return {str(r[f.attention_id]): r for r in answer.body[f.attention]}

    def provider_item(self, workflow_id: str, step: str) -> str:
        """The item id the provider's ledger shows for this step's calls."""
        return render(self.c.provider_item, {"workflow_id": workflow_id, "step": step}, where="provider_item")
