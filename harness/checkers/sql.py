"""SQL invariants: named queries (``invariants.sql``) run against the target's own database.

Each row a query returns is one violation. The queries target the canonical schema; a target file
overrides any of them by name (``database.invariants``) for a schema of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row

from harness.checkers.impossible import IMPOSSIBLE_STATES
from harness.checkers.result import CheckResult, ViolationGroup, run_checker

__all__ = ["IMPOSSIBLE_STATES", "NamedQuery", "SqlInvariants", "default_queries", "parse_named_queries"]


@dataclass(frozen=True, kw_only=True)
class NamedQuery:
    """One invariant: its name, what it finds (doc), and the SQL."""

    name: str
    doc: str
    sql: str | None  #: None: the target file says it cannot answer this invariant


def parse_named_queries(text: str) -> dict[str, NamedQuery]:
    """Split a ``-- name: x`` / ``-- doc: ...`` annotated SQL file into named queries."""
    queries: dict[str, NamedQuery] = {}
    for block in re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]:
        name, _, body = block.partition("\n")
        doc = " ".join(m.strip() for m in re.findall(r"^-- doc: (.*)$", body, flags=re.MULTILINE))
        sql = "\n".join(line for line in body.splitlines() if not line.startswith("--")).strip()
        queries[name.strip()] = NamedQuery(name=name.strip(), doc=doc, sql=sql)
    return queries


@cache
def default_queries() -> dict[str, NamedQuery]:
    """The built-in invariants of the canonical schema."""
    text = resources.files("harness.checkers").joinpath("invariants.sql").read_text()
    return parse_named_queries(text)


class SqlInvariants:
    """Runs named invariant queries on one database; overrides replace queries by name."""

    def __init__(
        self,
        dsn: str,
        *,
        overrides: Mapping[str, str | None] | None = None,
        params: Mapping[str, Any],
        used: set[str] | None = None,
        scope: Callable[[], list[str]] | None = None,
    ) -> None:
        self.dsn = dsn
        defaults = default_queries()
        self._omitted: set[str] = set()
        if overrides is None:  # the canonical schema itself (the harness's own tests, the session)
            self.queries = dict(defaults)
        else:  # a target file's queries only: what it omits is not answered (see target/conventions.py)
            self.queries = {n: NamedQuery(name=n, doc=q.doc, sql=None) for n, q in defaults.items()}
            self._omitted = set(defaults) - set(overrides)
        for name, sql in (overrides or {}).items():
            doc = defaults[name].doc if name in defaults else "target-defined invariant"
            self.queries[name] = NamedQuery(name=name, doc=doc, sql=sql)
        self.params = {"batch_id": None, **params}
        #: on a shared store, the scenario's own batch ids: an invariant asked without a batch runs
        #: once per batch of the scenario, never over others' rows
        self.scope: Callable[[], list[str]] | None = scope
        #: every invariant asked for (``database.invariants.<name>``), shared with the scenario
        self.used: set[str] = used if used is not None else set()

    def check(self, name: str, **params: Any) -> CheckResult:
        """Run one invariant; rows become one violation group named after the query.

        ``unknown`` (never pass or fail) when the target cannot answer it: its file sets the query
        to null, there is no database to ask, or the query does not fit the target's schema.
        """
        field = f"database.invariants.{name}"
        self.used.add(field)
        if self.queries[name].sql is None:
            given = "not given in" if name in self._omitted else "null in"
            why = f"the target does not answer {field!r} ({given} its target file)"
            if name in self._omitted:
                why += (
                    f"; hint: add `{field}: <SQL>` (the canonical query is in "
                    "harness/checkers/invariants.sql), or `conventions: canonical` if your database "
                    "uses the canonical schema"
                )
            return CheckResult.unknown(name, why)
        if not self.dsn:
            why = f"{field}: the harness has no connection to the target's database"
            return CheckResult.unknown(name, why)
        if self.scope is not None and params.get("batch_id") is None:
            return run_checker(name, lambda: self._check_scoped(name, params))
        return run_checker(name, lambda: self._check(name, params))

    def _check_scoped(self, name: str, params: Mapping[str, Any]) -> CheckResult:
        """The invariant over this scenario's batches only (a shared store holds others' rows)."""
        assert self.scope is not None
        rows: list[dict[str, Any]] = []
        for batch_id in self.scope():
            result = self._check(name, {**params, "batch_id": batch_id})
            if result.valid.value == "unknown":
                return result
            rows += self._rows_of(result)
        groups = [ViolationGroup.of(name, rows)] if rows else []
        return CheckResult.from_violations(
            name, groups, {"rows": len(rows), "checks": self.queries[name].doc}
        )

    @staticmethod
    def _rows_of(result: CheckResult) -> list[dict[str, Any]]:
        return [dict(row) for row in result.evidence.get("all_rows", ())]

    def check_all(self, names: tuple[str, ...] = IMPOSSIBLE_STATES, **params: Any) -> list[CheckResult]:
        return [self.check(n, **params) for n in names]

    def _check(self, name: str, params: Mapping[str, Any]) -> CheckResult:
        query = self.queries[name]
        assert query.sql is not None
        with psycopg.connect(self.dsn, connect_timeout=5, autocommit=True) as conn:
            try:
                cur = conn.cursor(row_factory=dict_row).execute(query.sql, {**self.params, **params})
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
                why = str(exc).splitlines()[0]
                return CheckResult.unknown(
                    name, f"database.invariants.{name}: its query does not fit this database ({why})"
                )
            rows = cur.fetchall()
        rows = [{k: _jsonable(v) for k, v in row.items()} for row in rows]
        groups = [ViolationGroup.of(name, rows)] if rows else []
        evidence: dict[str, Any] = {"rows": len(rows), "checks": query.doc}
        if self.scope is not None:
            evidence["all_rows"] = rows  # merged over the scenario's batches by _check_scoped
        return CheckResult.from_violations(name, groups, evidence)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return str(v)
