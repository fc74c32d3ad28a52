"""Speak to a target only through its contract: trigger, observe and control calls over HTTP.

Every call is an *op* in the history (``invoke`` then ``ok`` / ``fail`` / ``info``). A client
timeout or a dropped connection is ``info`` (indeterminate: the server may have done it), never a
failure of the target by itself (docs/scenarios.md, Verdicts). States are mapped onto canonical states.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from harness.errors import CapabilityMissing
from harness.stack.render import render, render_value
from harness.target.model import CanonicalState, HttpCall, Target


class OpHandle(Protocol):
    def ok(self, value: Any = None) -> None: ...
    def fail(self, error: str, value: Any = None) -> None: ...
    def info(self, error: str) -> None: ...


class OpRecorder(Protocol):
    def invoke(self, process: str, f: str, value: Any = None) -> OpHandle: ...


@dataclass(frozen=True, kw_only=True)
class Answer:
    """An HTTP answer of the target: status and parsed JSON (or None)."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, kw_only=True)
class ItemView:
    """One item as the target reports it."""

    id: str
    seq: int | None
    state: str
    raw: Mapping[str, Any]


class TargetClient:
    """HTTP client of one target's API, recording ops as ``process`` (a client name)."""

    def __init__(
        self,
        target: Target,
        api_url: str,
        *,
        history: OpRecorder | None = None,
        process: str = "client-1",
        used: set[str] | None = None,
    ) -> None:
        self.target = target
        self.api_url = api_url.rstrip("/")
        self.history = history
        self.process = process
        self.session = requests.Session()
        #: every optional capability asked for (``control.cancel``...), shared with the scenario
        self.used: set[str] = used if used is not None else set()

    def fresh(self, process: str) -> TargetClient:
        """A new client with no session state (cookies, connections): a user opening a new tab."""
        return TargetClient(self.target, self.api_url, history=self.history, process=process, used=self.used)

    def _capability(self, name: str, present: object) -> None:
        self.used.add(name)
        if present is None:
            raise CapabilityMissing(name)

    # -- trigger --------------------------------------------------------------------------------
    def create_batch(
        self,
        n: int,
        *,
        key: str | None = None,
        priority: int = 0,
        correlation_id: str | None = None,
        timeout: float = 10.0,
        use_key: bool = True,
    ) -> Answer:
        """Start a batch of ``n`` items; ``key`` defaults to a fresh idempotency key."""
        trig = self.target.trigger
        headers: dict[str, str] = {}
        if use_key and trig.idempotency_header:
            headers[trig.idempotency_header] = key or str(uuid.uuid4())
        if correlation_id and trig.correlation_header:
            headers[trig.correlation_header] = correlation_id
        return self.call(
            "create_batch", trig.create, {"n": n, "priority": priority}, headers=headers, timeout=timeout
        )

    def batch_id_of(self, answer: Answer) -> str:
        return str(answer.body[self.target.trigger.id_field])

    # -- observe ----------------------------------------------------------------------------------
    def progress(self, batch_id: str, *, timeout: float = 5.0) -> Answer:
        return self.call("progress", self.target.observe.batch, {"batch_id": batch_id}, timeout=timeout)

    def batch_state(self, batch_id: str) -> str:
        """The batch's canonical state as the API reports it."""
        body = self.progress(batch_id).body
        return self.canonical(str(body[self.target.observe.status_field]))

    def items(self, batch_id: str, *, timeout: float = 5.0) -> list[ItemView]:
        obs = self.target.observe
        self._capability("observe.items", obs.items)
        assert obs.items is not None
        body = self.call("items", obs.items, {"batch_id": batch_id}, timeout=timeout).body
        rows = body[obs.items_field] if obs.items_field else body
        views = [
            ItemView(
                id=str(r[obs.item_id_field]),
                seq=int(r[obs.item_seq_field]) if r.get(obs.item_seq_field) is not None else None,
                state=self.canonical(str(r[obs.item_status_field])),
                raw=r,
            )
            for r in rows
        ]
        return sorted(views, key=lambda v: (v.seq is None, v.seq or 0))

    def canonical(self, state: str) -> str:
        """Map a target state name onto the canonical vocabulary (unknown names pass through)."""
        mapped = self.target.observe.state_map.get(state)
        return mapped.value if mapped is not None else state

    def health(self, *, timeout: float = 2.0) -> Answer:
        self._capability("observe.health", self.target.observe.health)
        assert self.target.observe.health is not None
        return self.call("health", self.target.observe.health, {}, timeout=timeout)

    def metrics(self, *, timeout: float = 5.0) -> Answer:
        self._capability("observe.metrics", self.target.observe.metrics)
        assert self.target.observe.metrics is not None
        return self.call("metrics", self.target.observe.metrics, {}, timeout=timeout)

    # -- control ----------------------------------------------------------------------------------
    def control(self, name: str, values: Mapping[str, Any], *, timeout: float = 10.0) -> Answer:
        """Call one optional control (cancel, retry_item, retry_failed, recover, result, attention)."""
        call = getattr(self.target.control, name)
        self._capability(f"control.{name}", call)
        return self.call(name, call, values, timeout=timeout)

    # -- transport --------------------------------------------------------------------------------
    def call(
        self,
        f: str,
        call: HttpCall,
        values: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Answer:
        """One HTTP call from a template, recorded as an op; timeouts become ``info`` and re-raise."""
        path = render(call.path, values, where=f"{f}.path")
        body = render_value(call.body, values, where=f"{f}.body") if call.body is not None else None
        # ``is not None``: an empty History is falsy (it has __len__), and the first ops would be lost
        op = None
        if self.history is not None:
            op = self.history.invoke(self.process, f, {"path": path, **dict(values)})
        try:
            resp = self.session.request(
                call.method, self.api_url + path, json=body, headers=dict(headers or {}), timeout=timeout
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            if op:
                op.info(f"{type(exc).__name__}: {exc}")
            raise
        try:
            parsed: Any = resp.json()
        except ValueError:
            parsed = resp.text
        answer = Answer(status=resp.status_code, body=parsed, headers=dict(resp.headers))
        if op:
            if answer.ok:
                op.ok({"status": answer.status})
            else:
                op.fail(f"HTTP {answer.status}", {"status": answer.status, "body": parsed})
        return answer


def is_canonical(state: str) -> bool:
    return state in {s.value for s in CanonicalState}
