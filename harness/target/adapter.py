"""The Python hook for observations a target file's YAML cannot express.

A target file may name ``adapter: package.module:Class``. The class is built with an
:class:`AdapterContext` and may define any of the store observations by name (``batches``,
``items``, ``results``, ``transitions``, ``workers``), each taking the same keyword filters as the
SQL form (``batch_id``, ``item_id``; absent = no filter) and returning rows as mappings (or
objects) with the same columns. What it does not define falls back to the target file's SQL.
Use it for a store that is not SQL (state in Redis, a workflow engine's API), or for a schema that
needs logic. The module is imported when the target file is loaded, so a wrong name is exit 2.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from harness.errors import ConfigError
from harness.target.model import Target


@dataclass(frozen=True, kw_only=True)
class AdapterContext:
    """What an adapter may use: the target, and (once the stack runs) its database and API."""

    target: Target
    db_dsn: Callable[[], str | None]
    api_url: Callable[[], str | None]


Rows = Iterable[Mapping[str, Any]]


@runtime_checkable
class ObservationAdapter(Protocol):
    """The full shape of an adapter, for type-checking one that answers every store observation.

    The harness uses an adapter method by method: define only the ones your target needs (the
    others fall back to the target file's SQL). Columns per row are those of
    ``harness/target/observations.sql`` (e.g. ``items``: item_id, batch_id, seq, state, holder,
    lease_token, updated_at, has_output; states in the target's own names, mapped by
    ``observe.state_map``).
    """

    def __init__(self, context: AdapterContext) -> None: ...

    def batches(self, *, batch_id: str | None = None) -> Rows: ...

    def items(self, *, batch_id: str | None = None, item_id: str | None = None) -> Rows: ...

    def results(self, *, batch_id: str | None = None, item_id: str | None = None) -> Rows: ...

    def transitions(self, *, batch_id: str | None = None) -> Rows: ...

    def workers(self) -> Rows: ...


def adapter_class(spec: str) -> type[Any]:
    """Import ``package.module:Class``; a ConfigError naming ``adapter`` when it cannot."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ConfigError(f"adapter: expected 'package.module:Class' (got {spec!r})", field="adapter")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of user code is a config error here
        raise ConfigError(f"adapter: cannot import {module_name!r}: {exc}", field="adapter") from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ConfigError(f"adapter: {module_name!r} has no class {class_name!r}", field="adapter")
    return cls


def build_adapter(target: Target, context: AdapterContext) -> Any:
    """The target's adapter instance, or None when its file names none."""
    if target.adapter is None:
        return None
    return adapter_class(target.adapter)(context)
