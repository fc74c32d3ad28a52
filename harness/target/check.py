"""Exercise a target's contract once on a live stack: every declared call and observation.

``chaos-audit target check`` runs this after the file has validated and the stack is up. It
creates one small batch, waits for it to end, then asks every observation the file declares
(store queries, answer fields, health, metrics, invariants, controls, log events) exactly once.
Each answer becomes a :class:`Finding`:

- ``ok``: declared and answered;
- ``broken``: declared but failing (a query that does not run, a call answering 5xx or 405, a
  required answer field absent): the contract is wrong, the command exits 2 naming the field;
- ``unverified``: declared, but this one quiet batch cannot show it (an error field on items that
  all succeeded, a log event only a fault produces): reported, not an error.

Why a real batch rather than schema introspection: the audit's verdicts rest on what the target
answers while it works, and a query can parse and still filter on the wrong id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from harness.checkers import Validity
from harness.checkers.sql import default_queries
from harness.errors import ObservationMissing
from harness.history import History
from harness.logs import TargetLogs, parse_lines
from harness.process.logs import read_log
from harness.scenario import AuditMeta, ScenarioRun
from harness.stack.base import Stack
from harness.target.client import ItemView, TargetClient
from harness.target.model import STORE_OBSERVATIONS, Target
from harness.workload import TERMINAL

Status = Literal["ok", "broken", "unverified"]
CHECK_BATCH_ITEMS = 3
BATCH_TIMEOUT_S = 60.0
_META = AuditMeta(id="TARGET-CHECK", title="target contract check", task="target check", severity="info")


@dataclass(frozen=True, kw_only=True)
class Finding:
    """What one declared field did when exercised."""

    field: str
    status: Status
    detail: str = ""


class ContractExercise:
    """One pass over everything a target file declares, on its started stack."""

    def __init__(self, stack: Stack, *, seed: int = 0, say: Callable[[str], None] = print) -> None:
        self.stack = stack
        self.target: Target = stack.target
        self.run = ScenarioRun(_META, stack, History(), seed=seed)
        self.say = say
        self.findings: list[Finding] = []

    def exercise(self) -> list[Finding]:
        """Every check, in the order a scenario would meet them; never raises for the target's faults."""
        client = self.run.client("target-check")
        batch_id = self._create(client)
        if batch_id is not None:
            items = self._batch_and_items(client, batch_id)
            self._store(batch_id, items)
            self._controls(client, batch_id, items)
        self._health_and_metrics(client)
        self._invariants(batch_id)
        self._log_events()
        self._handles()
        return self.findings

    # -- the steps ----------------------------------------------------------------------------------
    def _create(self, client: TargetClient) -> str | None:
        self.say(f"creating a batch of {CHECK_BATCH_ITEMS} items...")
        try:
            answer = client.create_batch(CHECK_BATCH_ITEMS)
        except Exception as exc:
            self._add("trigger.create", "broken", f"the call failed: {exc}")
            return None
        if not answer.ok:
            self._add("trigger.create", "broken", f"answered HTTP {answer.status}: {answer.body!r:.200}")
            return None
        self._add("trigger.create", "ok", f"HTTP {answer.status}")
        try:
            batch_id = client.batch_id_of(answer)
        except (KeyError, TypeError):
            why = f"the create answer has no {self.target.trigger.id_field!r}"
            self._add("trigger.id_field", "broken", why)
            return None
        self._add("trigger.id_field", "ok", batch_id)
        return batch_id

    def _batch_and_items(self, client: TargetClient, batch_id: str) -> list[ItemView]:
        obs = self.target.observe
        deadline = time.monotonic() + BATCH_TIMEOUT_S
        state, body = None, None
        while time.monotonic() < deadline:
            try:
                body = client.progress(batch_id).body
                state = client.canonical(str(body[obs.status_field]))
            except KeyError:
                self._add("observe.status_field", "broken", f"the batch answer has no {obs.status_field!r}")
                break
            except Exception as exc:
                self._add("observe.batch", "broken", f"the call failed: {exc}")
                break
            if state in TERMINAL:
                break
            time.sleep(0.1)
        if state is not None:
            self._add(
                "observe.batch", "ok", f"the batch ended {state}" if state in TERMINAL else f"still {state}"
            )
            if state not in TERMINAL:
                why = f"the batch did not reach a terminal state in {BATCH_TIMEOUT_S:.0f}s (last {state!r})"
                self._add("observe.state_map", "unverified", why)
            self._fields("batch_fields", [body])
        if obs.items is None:
            return []
        try:
            items = client.items(batch_id)
        except KeyError as exc:
            self._add("observe.items", "broken", f"an item of the answer lacks {exc}")
            return []
        except Exception as exc:
            self._add("observe.items", "broken", f"the call failed: {exc}")
            return []
        if len(items) != CHECK_BATCH_ITEMS:
            self._add("observe.items", "broken", f"{len(items)} items for a batch of {CHECK_BATCH_ITEMS}")
        else:
            self._add("observe.items", "ok", ", ".join(sorted({i.state for i in items})))
        if any(i.seq is None for i in items):
            self._add("observe.item_seq_field", "unverified", f"items without {obs.item_seq_field!r}")
        self._fields("item_fields", [i.raw for i in items])
        return items

    def _store(self, batch_id: str, items: list[ItemView]) -> None:
        observe = self.run.observe
        for name in STORE_OBSERVATIONS:
            field = f"database.observations.{name}"
            try:
                rows: list[Any] = observe.workers() if name == "workers" else getattr(observe, name)(batch_id)
            except ObservationMissing as exc:
                configured = self.target.database.observations
                status: Status = "unverified" if configured.get(name, "") is None else "broken"
                self._add(field, status, str(exc))
                continue
            except Exception as exc:
                self._add(field, "broken", f"{type(exc).__name__}: {exc}")
                continue
            expected = {"items": CHECK_BATCH_ITEMS, "batches": 1}.get(name)
            if expected is not None and len(rows) != expected:
                self._add(field, "broken", f"{len(rows)} rows for the check's batch (expected {expected}): "
                          "check its batch_id filter")  # fmt: skip
            elif (
                name in ("results", "transitions") and not rows and any(i.state == "completed" for i in items)
            ):
                self._add(
                    field, "broken", "no rows for a batch with completed items: check its batch_id filter"
                )
            else:
                self._add(field, "ok", f"{len(rows)} rows")
        if items:
            try:
                row = observe.item(items[0].id)
            except Exception as exc:
                self._add("database.observations.items", "broken", f"by item id: {exc}")
            else:
                if row is None:
                    why = f"no row for item {items[0].id} (the API's item id must match the store's)"
                    self._add("database.observations.items", "broken", why)

    def _controls(self, client: TargetClient, batch_id: str, items: list[ItemView]) -> None:
        values = {"batch_id": batch_id, "item_id": items[0].id if items else "", "wait": "false"}
        for name in type(self.target.control).model_fields:
            call = getattr(self.target.control, name)
            if call is None:
                continue
            field = f"control.{name}"
            try:
                answer = client.control(name, values)
            except Exception as exc:
                self._add(field, "broken", f"the call failed: {exc}")
                continue
            if answer.status >= 500 or answer.status == 405:
                self._add(field, "broken", f"answered HTTP {answer.status}")
            else:  # 409 and friends are fine: the batch had ended, which a control may refuse
                self._add(field, "ok", f"HTTP {answer.status}")

    def _health_and_metrics(self, client: TargetClient) -> None:
        for name, call, section in (("health", client.health, "health_fields"),
                                    ("metrics", client.metrics, "metrics_fields")):  # fmt: skip
            if getattr(self.target.observe, name) is None:
                continue
            try:
                answer = call()
            except Exception as exc:
                self._add(f"observe.{name}", "broken", f"the call failed: {exc}")
                continue
            if not answer.ok:
                self._add(f"observe.{name}", "broken", f"answered HTTP {answer.status}")
                continue
            self._add(f"observe.{name}", "ok", f"HTTP {answer.status}")
            self._fields(section, [answer.body])

    def _invariants(self, batch_id: str | None) -> None:
        if not self.stack.db_dsn:
            return
        invariants = self.run.invariants()
        names = dict.fromkeys([*default_queries(), *self.target.database.invariants])
        for name in names:
            field = f"database.invariants.{name}"
            if name in invariants.queries and invariants.queries[name].sql is None:
                continue
            try:
                result = invariants.check(name, batch_id=batch_id)
            except Exception as exc:
                self._add(field, "broken", f"{type(exc).__name__}: {exc}")
                continue
            if result.valid is Validity.UNKNOWN:
                self._add(field, "broken", result.summary())
            elif result.valid is Validity.FALSE:
                self._add(
                    field, "unverified", f"runs, but reports violations on a quiet batch: {result.summary()}"
                )
            else:
                self._add(field, "ok", "runs, no rows")

    def _log_events(self) -> None:
        services = list(dict.fromkeys([*self.stack.started, *self.target.logs.paths]))  # every service's log
        self.findings.extend(log_findings(TargetLogs.of(self.stack, services=services)))

    def _handles(self) -> None:
        """Each fault handle of a running stack, exercised harmlessly: ``alive`` must say it runs.

        Only the external backend acts through handles (the others start the services themselves);
        a service without one is reported so ``target check`` and the audit agree on ``unknown``.
        """
        from harness.stack.external import ExternalStack

        if not isinstance(self.stack, ExternalStack):
            return
        handle_of = self.stack.handle
        for name, spec in self.target.services.items():
            field = f"services.{name}.handle"
            if spec.fault_handle is None:
                if spec.role in ("api", "worker", "db", "broker"):
                    self._add(field, "unverified", "no handle: faults on this service will be unknown")
                continue
            try:
                handle = handle_of(name)
                alive = handle is not None and handle.running
            except Exception as exc:
                self._add(field, "broken", f"alive failed: {exc}")
                continue
            if alive:
                self._add(field, "ok", "alive says it runs")
            else:
                self._add(
                    field, "broken", "alive says it is not running (the stack is up: check the command)"
                )

    # -- helpers ------------------------------------------------------------------------------------
    def _fields(self, section: str, docs: Iterable[Any]) -> None:
        """Each declared field of ``section`` found in at least one of ``docs``, else unverified."""
        spec = getattr(self.target.observe, section)
        docs = list(docs)
        for name in type(spec).model_fields:
            path = getattr(spec, name)
            if path is None:
                continue
            found = any(_has_path(d, path) for d in docs)
            detail = f"{path!r} present" if found else f"{path!r} not in this run's answers"
            self._add(f"observe.{section}.{name}", "ok" if found else "unverified", detail)

    def _add(self, field: str, status: Status, detail: str = "") -> None:
        self.findings.append(Finding(field=field, status=status, detail=detail))


def _has_path(doc: Any, path: str) -> bool:
    for part in path.split("."):
        if not isinstance(doc, Mapping) or part not in doc:
            return False
        doc = doc[part]
    return True


def log_findings(logs: TargetLogs) -> list[Finding]:
    """``logs.format`` and each declared ``logs.events`` moment, as read by the scenarios' reader.

    An event is "seen" only when a line parses (per ``logs.format``) with that event name: a raw
    grep for ``"name"`` or ``=name`` once said "seen" for lines no scenario could parse (a logfmt
    service read as JSON), and TEST-RR-SL02 then reported a logged item as "not logged".
    """
    spec = logs.spec
    texts = {service: read_log(path) for service, path in logs.paths.items()}
    entries = [e for service, text in texts.items() for e in parse_lines(service, text, spec)]
    lines = sum(1 for text in texts.values() for line in text.splitlines() if line.strip())
    status: Status = "ok" if entries else "unverified"
    if entries:
        detail = f"{len(entries)} of {lines} lines read as {spec.format}"
    else:
        why = f"none of {lines} lines reads as {spec.format}" if lines else "nothing logged"
        detail = f"{why}: no log event can be seen"
    out = [Finding(field="logs.format", status=status, detail=detail)]
    events = {e.event for e in entries}
    for moment, names in spec.events.items():
        if not names:
            continue
        seen = any(n.strip() in events for n in names.split("|"))
        status = "ok" if seen else "unverified"
        detail = "seen in the logs" if seen else "not seen in this quiet run"
        if not entries:
            detail += f" (no line reads as logs.format {spec.format})"
        out.append(Finding(field=f"logs.events.{moment}", status=status, detail=detail))
    return out
