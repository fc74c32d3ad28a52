"""Named observations: everything a scenario reads of a target, answered through its target file.

Scenarios never hold SQL, a table, a column, a log event or a JSON field of a particular target.
They ask an :class:`Observer` by name ("the items of this batch, with their holders", "the results
committed for this item", "the item's error kind"), and the target file says how its own system
answers each name:

- store observations (``batches``, ``items``, ``results``, ``transitions``, ``workers``) are
  named SQL queries: the canonical schema's defaults live in ``observations.sql``; a target file
  replaces one under ``database.observations.<name>`` (same parameters, same columns) or sets it
  to ``null``; an ``adapter`` class may answer any of them in Python instead;
- fields of the API's answers are dotted paths (``observe.item_fields.holder: worker_id``);
- log moments are event names (``logs.events.ownership_lost: item.lost_ownership``).

What a target cannot answer raises :class:`ObservationMissing` naming the field: the scenario ends
``unknown`` (never pass, never a false fail). A default query that fails on another schema (no
such table or column) counts as not answered, with the database's message. Every name asked for is
recorded in ``used``, so the harness can check that scenarios declare what they need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from harness.checkers.sql import parse_named_queries
from harness.errors import ObservationMissing
from harness.target.client import ItemView
from harness.target.model import STORE_OBSERVATIONS, Target

R = TypeVar("R")


@dataclass(frozen=True, kw_only=True)
class BatchRow:
    """A batch as the target's store holds it."""

    batch_id: str
    state: str  #: canonical
    items: int | None = None


@dataclass(frozen=True, kw_only=True)
class ItemRow:
    """An item as the target's store holds it."""

    item_id: str
    batch_id: str
    seq: int | None
    state: str  #: canonical
    holder: str | None = None  #: the worker service holding (or last holding) it
    lease_token: str | None = None  #: the ownership token its holder must present (fencing)
    updated_at: datetime | None = None
    has_output: bool | None = None


@dataclass(frozen=True, kw_only=True)
class ResultRow:
    """One committed output."""

    item_id: str
    batch_id: str | None = None
    committed_by: str | None = None


@dataclass(frozen=True, kw_only=True)
class TransitionRow:
    """One item state change, in the order the store recorded them."""

    item_id: str
    batch_id: str | None
    from_state: str | None  #: canonical
    to_state: str  #: canonical
    at: datetime | None = None
    actor: str | None = None


@dataclass(frozen=True, kw_only=True)
class WorkerRow:
    """A worker the target knows of."""

    worker: str
    seconds_since_heartbeat: float | None = None


ROW_TYPES: dict[str, type[Any]] = {
    "batches": BatchRow,
    "items": ItemRow,
    "results": ResultRow,
    "transitions": TransitionRow,
    "workers": WorkerRow,
}
STATE_COLUMNS = ("state", "from_state", "to_state")


@cache
def default_observations() -> dict[str, str]:
    """The canonical schema's observation queries, by name."""
    text = resources.files("harness.target").joinpath("observations.sql").read_text()
    return {name: q.sql for name, q in parse_named_queries(text).items() if q.sql is not None}


class Observer:
    """Answers a scenario's observations for one target (store, API fields, log events)."""

    def __init__(
        self,
        target: Target,
        dsn: Callable[[], str | None],
        *,
        adapter: Any = None,
        used: set[str] | None = None,
        holder_of: Callable[[str], str] | None = None,
    ) -> None:
        #: batches that existed before the scenario (excluded on a shared store)
        self.earlier_batches: frozenset[str] = frozenset()
        #: maps the target's worker ids onto its services (harness/target/holders.py)
        self.holder_of = holder_of or (lambda holder: holder)
        self.target = target
        self._dsn = dsn
        self.adapter = adapter
        self.used: set[str] = used if used is not None else set()

    # -- store observations -------------------------------------------------------------------------
    def batches(self, batch_id: str | None = None) -> list[BatchRow]:
        return self._store("batches", batch_id=batch_id)

    def batch(self, batch_id: str) -> BatchRow | None:
        return next(iter(self.batches(batch_id)), None)

    def items(self, batch_id: str | None = None, *, item_id: str | None = None) -> list[ItemRow]:
        return self._store("items", batch_id=batch_id, item_id=item_id)

    def item(self, item_id: str) -> ItemRow | None:
        return next(iter(self.items(item_id=item_id)), None)

    def results(self, batch_id: str | None = None, *, item_id: str | None = None) -> list[ResultRow]:
        return self._store("results", batch_id=batch_id, item_id=item_id)

    def transitions(self, batch_id: str | None = None) -> list[TransitionRow]:
        return self._store("transitions", batch_id=batch_id)

    def workers(self) -> list[WorkerRow]:
        return self._store("workers")

    def require(self, *names: str) -> None:
        """Fail early (``unknown``) unless every store observation in ``names`` can be answered."""
        for name in names:
            self._store_source(name)

    # -- fields of the API's answers ----------------------------------------------------------------
    def item_field(self, item: ItemView, name: str, *, optional: bool = False) -> Any:
        """A field of one item of the ``observe.items`` answer (``observe.item_fields.<name>``).

        ``optional``: for evidence only; None when the target does not report it (no ``unknown``).
        """
        value = self._get("item_fields", name, item.raw, optional)
        return self.holder_of(str(value)) if name == "holder" and value is not None else value

    def batch_field(self, body: Any, name: str, *, optional: bool = False) -> Any:
        """A field of the ``observe.batch`` answer (``observe.batch_fields.<name>``)."""
        return self._get("batch_fields", name, body, optional)

    def health_field(self, body: Any, name: str, *, optional: bool = False) -> Any:
        return self._get("health_fields", name, body, optional)

    def metrics_field(self, body: Any, name: str, *, optional: bool = False) -> Any:
        return self._get("metrics_fields", name, body, optional)

    def item_error(self, item: ItemView) -> str:
        """The item's error as one text: kind, provider status and message ('' when none)."""
        parts = [self._field("item_fields", n, item.raw, missing_ok=True)
                 for n in ("error_kind", "error_status", "error_message")]  # fmt: skip
        if all(p is _ABSENT for p in parts):
            raise ObservationMissing("observe.item_fields.error_kind", "no error field in the items answer")
        return " ".join(str(p) for p in parts if p is not _ABSENT and p not in (None, ""))

    # -- log events ---------------------------------------------------------------------------------
    def events(self, name: str) -> tuple[str, ...]:
        """The target's event names for the moment ``name`` (``logs.events.<name>``)."""
        field = f"logs.events.{name}"
        self.used.add(field)
        value = self.target.logs.events.get(name)
        if not value:
            raise ObservationMissing(field)
        return tuple(v.strip() for v in value.split("|") if v.strip())

    def is_event(self, event: Any, name: str) -> bool:
        """Whether a logged event value is one of the target's names for ``name``."""
        return event is not None and str(event) in self.events(name)

    # -- machinery ----------------------------------------------------------------------------------
    def _get(self, section: str, name: str, doc: Any, optional: bool) -> Any:
        if optional:
            value = self._field(section, name, doc, missing_ok=True, record=False)
            return None if value is _ABSENT else value
        return self._field(section, name, doc)

    def _field(
        self, section: str, name: str, doc: Any, *, missing_ok: bool = False, record: bool = True
    ) -> Any:
        field = f"observe.{section}.{name}"
        if record:
            self.used.add(field)
        path = getattr(getattr(self.target.observe, section), name)
        if path is None:
            if missing_ok:
                return _ABSENT
            raise ObservationMissing(field)
        value: Any = doc
        for part in path.split("."):
            if not isinstance(value, Mapping) or part not in value:
                if missing_ok:
                    return _ABSENT
                raise ObservationMissing(field, f"the answer has no {path!r}")
            value = value[part]
        return value

    def _store_source(self, name: str) -> Callable[..., Iterable[Any]] | str:
        assert name in STORE_OBSERVATIONS, name
        field = f"database.observations.{name}"
        self.used.add(field)
        method = getattr(self.adapter, name, None)
        if callable(method):
            return method  # type: ignore[no-any-return]
        configured = self.target.database.observations
        if name not in configured:
            raise ObservationMissing(field, "not given in its target file")
        sql = configured[name]
        if sql is None:
            raise ObservationMissing(field, "null in its target file")
        if not self._dsn():
            raise ObservationMissing(field, "the harness has no connection to the target's database")
        return sql

    def _store(self, name: str, **params: Any) -> list[Any]:
        source = self._store_source(name)
        if callable(source):
            rows: Iterable[Any] = source(**{k: v for k, v in params.items() if v is not None})
        else:
            rows = self._query(name, source, params)
        out = [self._row(name, r) for r in rows]
        if self.earlier_batches and name != "workers":  # a shared store: only this scenario's batches
            out = [r for r in out if getattr(r, "batch_id", None) not in self.earlier_batches]
        return out

    def scenario_batch_ids(self) -> list[str]:
        """The batches created since :meth:`exclude_earlier_batches` (a harness read, not the scenario's)."""
        before = set(self.used)
        try:
            return [b.batch_id for b in self._store("batches", batch_id=None)]
        finally:
            self.used.intersection_update(before)

    def exclude_earlier_batches(self) -> int:
        """Scope every store observation to batches created from now on (a running stack's store
        holds other runs' and scenarios' batches). Returns how many are excluded; 0 when the target
        does not answer ``batches`` (its queries are then as scoped as the target file makes them)."""
        try:
            self.earlier_batches = frozenset(b.batch_id for b in self._store("batches", batch_id=None))
        except Exception:  # no store, no batches query: nothing to exclude
            self.earlier_batches = frozenset()
        return len(self.earlier_batches)

    def _query(self, name: str, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        errors = psycopg.errors
        #: a query written for another schema: not answered (unknown), not a failure of the target
        _QUERY_DOES_NOT_FIT = (errors.UndefinedTable, errors.UndefinedColumn, errors.SyntaxError,
                               errors.UndefinedFunction, KeyError)  # fmt: skip

        values = {"batch_id": None, "item_id": None, **{k: _text(v) for k, v in params.items()}}
        dsn = self._dsn()
        assert dsn is not None
        with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
            try:
                return conn.cursor(row_factory=dict_row).execute(sql, values).fetchall()
            except _QUERY_DOES_NOT_FIT as exc:
                why = f"its query failed on this database: {str(exc).splitlines()[0]}"
                raise ObservationMissing(f"database.observations.{name}", why) from exc

    def _row(self, name: str, row: Any) -> Any:
        cls = ROW_TYPES[name]
        data = dict(row) if isinstance(row, Mapping) else dict(vars(row))
        known = {f.name for f in fields(cls)}
        required = [f.name for f in fields(cls) if f.default is MISSING and f.name not in data]
        if required:
            raise ObservationMissing(f"database.observations.{name}", f"its rows lack {', '.join(required)}")
        kept = {k: v for k, v in data.items() if k in known}
        for col in STATE_COLUMNS:
            if col in kept and kept[col] is not None:
                kept[col] = self.canonical(str(kept[col]))
        for col in ("batch_id", "item_id", "holder", "lease_token", "committed_by", "worker", "actor"):
            if col in kept and kept[col] is not None:
                kept[col] = str(kept[col])
        for col in ("holder", "committed_by", "worker", "actor"):  # worker ids -> service names
            if kept.get(col) is not None:
                kept[col] = self.holder_of(kept[col])
        if "seq" in kept and kept["seq"] is not None:
            kept["seq"] = int(kept["seq"])
        return cls(**kept)

    def canonical(self, state: str) -> str:
        mapped = self.target.observe.state_map.get(state)
        return mapped.value if mapped is not None else state


def sample_queries(target: Target) -> dict[str, str | None]:
    """The sampler's queries: the target's ``items`` / ``batches`` observations, limited.

    None where the target answers the observation only through an adapter or not at all: the
    timelines then lack those lanes, nothing else is affected.
    """
    out: dict[str, str | None] = {}
    columns = {"items": "item_id, batch_id, seq, state", "batches": "batch_id, state"}
    for name, key in (("items", "sample_items"), ("batches", "sample_batches")):
        sql = target.database.observations.get(name)
        if target.adapter is not None or sql is None:
            out[key] = None
            continue
        inner = sql.strip().rstrip(";")
        out[key] = f"SELECT {columns[name]} FROM ({inner}) AS observed LIMIT %(limit)s"
    return out


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Any = _Absent()


def _text(value: Any) -> Any:
    return None if value is None else str(value)
