"""``conventions: canonical``: the one line with which a target file adopts the canonical schema.

A target file that omits an observation says nothing about it: the checks reading it are ``unknown``
with a hint, and ``target check --static`` and the run agree. Only a file that opts in with
``conventions: canonical`` (the reference target's) gets, for every field it omits, the canonical
answer: the field names of the API's answers (``worker_id``, ``error_kind``, ``summary``...), the log
fields (``correlation_id``, ``item_id``, ``batch_id``) and the canonical schema's store observations
(``harness/target/observations.sql``) and invariant queries (``harness/checkers/invariants.sql``).
An explicit value, ``null`` included, always wins. Applied before validation, so every way of
building a :class:`~harness.target.model.Target` sees the same contract.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

CANONICAL = "canonical"

FIELDS: dict[str, dict[str, dict[str, str]]] = {
    "observe": {
        "item_fields": {
            "holder": "worker_id", "output": "output", "error_kind": "error_kind",
            "error_status": "error_status", "error_message": "error_message",
            "retry_count": "retry_count", "attempts": "attempts", "deliveries": "deliveries",
        },
        "batch_fields": {
            "total": "total", "completed": "completed", "summary": "summary", "paused": "paused",
            "reason": "status_reason", "truncated": "truncated",
        },
        "health_fields": {"boot_id": "boot_id"},
        "metrics_fields": {
            "queue_depth": "queue_depth", "processing": "items.processing",
            "completed": "items.completed", "batches_completed": "batches.completed",
        },
    },
}  # fmt: skip
LOG_FIELDS = {"correlation_field": "correlation_id", "item_field": "item_id", "batch_field": "batch_id"}


@cache
def canonical_store() -> dict[str, dict[str, str]]:
    """The canonical schema's observation and invariant queries, by name."""
    from harness.checkers.sql import parse_named_queries

    def named(package: str, file: str) -> dict[str, str]:
        text = resources.files(package).joinpath(file).read_text()
        return {n: q.sql for n, q in parse_named_queries(text).items() if q.sql is not None}

    return {
        "observations": named("harness.target", "observations.sql"),
        "invariants": named("harness.checkers", "invariants.sql"),
    }


def apply_conventions(data: Any) -> Any:
    """``data`` (a target file's mapping) with the canonical answers filled in where it opts in."""
    if not isinstance(data, dict) or data.get("conventions") != CANONICAL:
        return data
    out = copy.deepcopy(data)
    for section, models in FIELDS.items():
        part = out.setdefault(section, {})
        if not isinstance(part, dict):
            return data  # let validation name the wrong shape
        for model, fields in models.items():
            given = part.setdefault(model, {})
            if isinstance(given, dict):
                for name, value in fields.items():
                    given.setdefault(name, value)
    logs = out.setdefault("logs", {})
    if isinstance(logs, dict):
        for name, value in LOG_FIELDS.items():
            logs.setdefault(name, value)
    database = out.setdefault("database", {})
    if isinstance(database, dict):
        for kind, queries in canonical_store().items():
            given = database.setdefault(kind, {})
            if isinstance(given, dict):
                for name, sql in queries.items():
                    given.setdefault(name, sql)
    return out
