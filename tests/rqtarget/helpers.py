"""Small helpers for rqtarget's tests: HTTP calls, SQL, waiting."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import psycopg
from psycopg.rows import dict_row

from harness.stack.local import LocalStack

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], *, timeout: float = 10.0, what: str = "condition") -> T:
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        time.sleep(0.03)


def sql(stack: LocalStack, query: str, params: Any = None) -> list[dict[str, Any]]:
    with psycopg.connect(stack.db_dsn, row_factory=dict_row, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def api(stack: LocalStack) -> httpx.Client:
    assert stack.api_url
    return httpx.Client(base_url=stack.api_url, timeout=10)


def create(stack: LocalStack, size: int, *, key: str | None = None, priority: str = "default") -> str:
    headers = {"Idempotency-Key": key or uuid.uuid4().hex, "X-Request-Id": f"req-{uuid.uuid4().hex[:8]}"}
    with api(stack) as c:
        r = c.post("/api/jobs", json={"size": size, "priority": priority}, headers=headers)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["job_id"])


def job(stack: LocalStack, job_id: str) -> dict[str, Any]:
    with api(stack) as c:
        r = c.get(f"/api/jobs/{job_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def tasks(stack: LocalStack, job_id: str) -> list[dict[str, Any]]:
    with api(stack) as c:
        r = c.get(f"/api/jobs/{job_id}/tasks")
    assert r.status_code == 200, r.text
    return list(r.json()["tasks"])


def state_is(stack: LocalStack, job_id: str, *states: str) -> bool:
    return job(stack, job_id)["state"] in states


def generate_calls(stack: LocalStack) -> list[Any]:
    return [e for e in stack.provider.ledger() if e.kind == "generate"]


def log_events(stack: LocalStack, service: str, event: str) -> list[dict[str, Any]]:
    """The JSON log lines ``event`` that ``service`` has written so far (its whole log file)."""
    path = stack.log_path(service)
    if path is None or not path.exists():
        return []
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            found.append(record)
    return found


class NoHistory:
    """A fault recorder that keeps the events in a list (the scenarios' History is not needed here)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def fault(self, name: str, target: str, phase: str, **details: Any) -> None:
        self.events.append((name, target, phase))
