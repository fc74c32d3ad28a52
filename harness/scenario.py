"""What a scenario holds while it runs: the stack, faults, history, evidence and checks.

A scenario reads like the audit step it encodes::

    def test_rr_004(audit):
        audit.stack.start(services=["api"])
        ...                                   # workload, faults at exact points
        audit.check(exactly_once(ledger, completed))
        audit.evidence("resumed_from_item", 8, expected=8)
        audit.conclude()

``conclude()`` turns the recorded checks into the verdict (:func:`harness.verdict.decide`): any
false check fails the scenario (with every violation in the message); an undecided *core* check
makes it ``unknown``; otherwise it passes, listing its undecided *secondary* checks. The outcome is
kept as a typed value (``run.outcome``) for the plugin; pytest sees a failure, a skip whose reason
starts with ``unknown:``, or a pass. Evidence is recorded whatever the verdict.

A block of checks that reads something the target may not answer is wrapped in
``with audit.deciding("name", ...):`` so that a missing observation makes exactly those checks
unknown (or failed, when the target file declares the capability absent) while the others decide.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from harness.catalog.checks import checks_of
from harness.checkers import CheckResult, Validity
from harness.checkers.sql import SqlInvariants
from harness.errors import ObservationMissing, Undecidable
from harness.faults.injector import Faults
from harness.faults.registry import FaultUse
from harness.history import History
from harness.sampler import DEFAULT_INTERVAL_S, StateSampler
from harness.stack.base import Stack
from harness.stack.lifecycle import Lifecycle
from harness.target.absence import declared_absent, hint
from harness.target.client import TargetClient
from harness.target.observe import Observer
from harness.target.stack_observer import stack_observer
from harness.verdict import Outcome, Verdict, absent_capability, decide

UNKNOWN_PREFIX = "unknown: "


@dataclass(frozen=True, kw_only=True)
class AuditMeta:
    """A scenario's metadata: the ``@pytest.mark.audit(id=..., needs=...)`` completed by the catalogue."""

    id: str
    title: str = ""
    task: str = ""
    severity: str = "HIGH"
    #: the contract fields the scenario needs to *run* (its setup and fault); what each check reads
    #: is in the catalogue (``harness.catalog.checks``). ``chaos-audit target check`` reads both.
    needs: tuple[str, ...] = ()

    @classmethod
    def of(cls, marker_kwargs: Mapping[str, Any]) -> AuditMeta:
        """The marker's id and needs, with title, task and severity from the catalogue (one source)."""
        from harness import catalog

        kw = dict(marker_kwargs)
        known = catalog.entry(str(kw.get("id")))
        if known is not None:
            kw.update(title=known.title, task=known.task, severity=known.severity.value)
        kw["needs"] = tuple(kw.get("needs", ()))
        return cls(**kw)


class ScenarioRun:
    """One scenario's stack, faults, history, evidence and checks."""

    def __init__(self, meta: AuditMeta, stack: Stack, history: History, *, seed: int) -> None:
        self.meta = meta
        self.stack = stack
        self.history = history
        #: the history, faults and state sampler; the plugin's ``audit`` fixture closes it (heals)
        self.life = Lifecycle(stack, history, canonical=lambda state: self.observe.canonical(state))
        self.faults: Faults = self.life.faults
        self.seed = seed
        self.evidence_items: dict[str, Any] = {}
        self.checks: list[CheckResult] = []
        #: the scenario's checks in the catalogue (core or secondary, what each reads and requires)
        self.spec = checks_of(meta.id)
        #: the concluded outcome (set by :meth:`conclude` or :meth:`could_not_run`)
        self.outcome: Outcome | None = None
        self._client: TargetClient | None = None
        #: every contract field the scenario asked for (observations, controls, invariants, roles)
        self.used: set[str] = set()
        self._observer: Observer | None = None

    @property
    def sampler(self) -> StateSampler | None:
        """The background state sampler (started by the plugin's ``audit`` fixture); it feeds the
        timelines."""
        return self.life.sampler

    def start_sampler(self, *, interval: float = DEFAULT_INTERVAL_S) -> StateSampler:
        """Start sampling this stack's item and batch states into the history (idempotent).

        The sampler waits for the stack's database itself, so it may start before ``stack.start()``.
        """
        return self.life.start_sampler(interval=interval)

    def stop_sampler(self) -> None:
        """Stop the sampler (after a last sample); safe when it never started."""
        self.life.stop_sampler()

    # -- access -----------------------------------------------------------------------------------
    @property
    def provider(self) -> Any:
        return self.stack.provider

    def client(self, process: str = "client-1") -> TargetClient:
        """The target's API client (after ``stack.start``); a new ``process`` name = a fresh client."""
        if self.stack.api_url is None:
            raise RuntimeError("start the stack (with an api service) before asking for a client")
        if self._client is None:
            self._client = TargetClient(
                self.stack.target, self.stack.api_url, history=self.history, process=process, used=self.used
            )
        return self._client if process == self._client.process else self._client.fresh(process)

    def invariants(self) -> SqlInvariants:
        """SQL invariants on this stack's database, parameterised by the target's timing."""
        t = self.stack.timing
        params = {
            "max_duration_s": t["max_duration_s"],
            "heartbeat_grace_s": max(3 * t["lease_s"], 1.0),
            "max_attempts": t["max_attempts"],
            "max_deliveries": t["max_deliveries"],
        }
        observer = self.observe
        # a shared store (the external backend): only this scenario's batches
        scope = observer.scenario_batch_ids if observer.earlier_batches else None
        return SqlInvariants(
            self.stack.db_dsn,
            overrides=self.stack.target.database.invariants,
            params=params,
            used=self.used,
            scope=scope,
        )

    @property
    def observe(self) -> Observer:
        """The target's named observations (store, API fields, log events): see harness.target.observe."""
        if self._observer is None:
            self._observer = stack_observer(self.stack, used=self.used)
        return self._observer

    # -- the target's services, by role ------------------------------------------------------------
    @property
    def api(self) -> str:
        """The target's API service (role ``api``)."""
        return self._role("api", 1)[0]

    def workers(self, n: int = 1) -> list[str]:
        """The first ``n`` worker services; ``unknown`` when the target has fewer."""
        return self._role("worker", n)

    @property
    def queue_store(self) -> str:
        """The service holding the queue: the broker when the target has one, else its database."""
        brokers = self.stack.target.services_with_role("broker")
        return brokers[0] if brokers else self._role("db", 1)[0]

    def link(self, source: str, to_role: str) -> str:
        """The proxied link from ``source`` to the service with ``to_role`` (``unknown`` if none)."""
        target = self.stack.target
        field = f"links ({source} -> {to_role})"
        self.used.add(f"links.{to_role}")
        for name in target.services_with_role(to_role):  # type: ignore[arg-type]
            link = target.link_between(source, name)
            if link is not None:
                return link
        raise ObservationMissing(field, "no link through the fault proxy")

    def _role(self, role: str, n: int) -> list[str]:
        field = f"services.{role}" + (f"*{n}" if n > 1 else "")
        self.used.add(field)
        names = self.stack.target.services_with_role(role)  # type: ignore[arg-type]
        if len(names) < n:
            raise ObservationMissing(field, f"the scenario needs {n}, the target has {len(names)}")
        return names[:n]

    # -- evidence and checks ------------------------------------------------------------------------
    def evidence(self, key: str, value: Any, *, expected: Any = None, holds: bool | None = None) -> None:
        """Record a measured number for the report, e.g. ``resumed_from_item: 8 (expected 8)``.

        ``holds`` says whether the value meets ``expected`` when the text of the expectation cannot
        (``expected="names timeout"``); without it, a check of the same name decides (see
        :meth:`judged_evidence`), else the report compares what it can and never guesses "differs".
        """
        if expected is None:
            self.evidence_items[key] = value
            return
        item: dict[str, Any] = {"value": value, "expected": expected}
        if holds is not None:
            item["holds"] = holds
        self.evidence_items[key] = item

    def judged_evidence(self) -> dict[str, Any]:
        """The evidence, each expectation without ``holds`` judged by the check of its name, if any."""
        verdict = {c.name: c.valid for c in self.checks if c.valid is not Validity.UNKNOWN}
        out: dict[str, Any] = {}
        for key, value in self.evidence_items.items():
            if isinstance(value, dict) and "expected" in value and "holds" not in value and key in verdict:
                value = {**value, "holds": verdict[key] is Validity.TRUE}
            out[key] = value
        return out

    def fault_uses(self) -> set[FaultUse]:
        """Every fault this scenario injected, with the role it acted on, and a ``hold`` for each
        worker its ``stack.start`` left out (a running stack holds those down through handles)."""
        target = self.stack.target
        left_out = getattr(self.stack, "left_out", ())
        held = {FaultUse("hold", "worker") for n in left_out if target.services[n].role == "worker"}
        return self.faults.used | held

    def undeclared_use(self) -> list[str]:
        """Contract fields used beyond the marker's needs and the checks' reads, and faults injected
        beyond the catalogue's list for the scenario: a harness bug (``target check`` would
        promise the scenario can run where it cannot); the audit's own tests require none."""
        from harness.catalog import faults_of
        from harness.target.needs import declared

        fields = self.used - declared(self.meta.needs) - declared(self.spec.reads)
        listed = faults_of(self.meta.id)
        covered = {u.key for u in listed or ()}
        faults = {f"fault {u}" for u in self.fault_uses() if listed is not None and u.key not in covered}
        return sorted(fields | faults)

    def check(self, result: CheckResult) -> CheckResult:
        """Record a checker's result (its evidence is merged under the checker's name)."""
        self.checks.append(result)
        return result

    def expect(self, name: str, ok: bool, *, detail: Mapping[str, Any] | None = None) -> CheckResult:
        """Record a simple measured condition as a check; ``detail`` is the violation if not ok."""
        from harness.checkers import ViolationGroup

        groups = [] if ok else [ViolationGroup.of(name, [dict(detail or {"condition": name})])]
        return self.check(CheckResult.from_violations(name, groups, dict(detail or {})))

    @contextmanager
    def deciding(self, *names: str) -> Iterator[None]:
        """The checks ``names`` are decided inside this block; what it cannot observe makes exactly them
        undecided (or failed, when the target file declares that capability absent).

        Use it around the reading *and* the checks that depend on it, so one missing field never
        takes the scenario's other checks with it.
        """
        before = len(self.checks)
        try:
            yield
        except Undecidable as exc:
            recorded = {c.name for c in self.checks[before:]}
            for name in names:
                if name not in recorded:
                    self.checks.append(self._undecided(name, exc))

    def _undecided(self, name: str, exc: Undecidable) -> CheckResult:
        field = exc.field
        if field and field in self.spec.requires(name) and declared_absent(self.stack.target, field):
            why = getattr(exc, "why", str(exc))
            return absent_capability(name, field, f"the target file declares it absent: {why}")
        if field and declared_absent(self.stack.target, field):
            return CheckResult.unknown(name, str(exc))  # null, and this check does not require it
        text = str(exc) + (f"; hint: {hint(field)}" if field else "")
        return CheckResult.unknown(name, text)

    def unknown(self, reason: str) -> NoReturn:
        """End the scenario as ``unknown`` (never pass): the harness could not decide."""
        self.outcome = Outcome(verdict=Verdict.UNKNOWN, reason=reason)
        pytest.skip(UNKNOWN_PREFIX + reason)

    def conclude_failures(self) -> None:
        """Raise the scenario's failure if any recorded check is false (else return)."""
        failed = [c for c in self.checks if c.valid is Validity.FALSE]
        if failed:
            self.outcome = decide(self.checks, self.spec)
            raise AssertionError(f"{self.meta.id} failed: " + " | ".join(c.summary() for c in failed))

    def could_not_run(self, exc: Undecidable) -> NoReturn:
        """The scenario stopped on something it cannot observe: unknown, unless a check already failed."""
        self.conclude_failures()
        outcome = decide(self.checks, self.spec)
        self.outcome = Outcome(verdict=Verdict.UNKNOWN, undecided=outcome.undecided, reason=str(exc))
        pytest.skip(UNKNOWN_PREFIX + str(exc))

    def conclude(self) -> None:
        """Turn the checks into the verdict (raises on fail, skips as unknown, returns on pass)."""
        outcome = decide(self.checks, self.spec)
        self.outcome = outcome
        if outcome.verdict is Verdict.FAIL:
            raise AssertionError(f"{self.meta.id} failed: {outcome.reason}")
        if not self.checks:
            raise AssertionError(f"{self.meta.id}: a scenario must check something")
        if outcome.verdict is Verdict.UNKNOWN:
            pytest.skip(UNKNOWN_PREFIX + outcome.reason)

    # -- waiting on observed states ---------------------------------------------------------------
    def wait_for(
        self, what: str, predicate: Callable[[], Any], *, timeout: float, interval: float = 0.02
    ) -> Any:
        """Poll ``predicate`` until it returns a truthy value; fail the scenario with ``what`` if not."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            try:
                value = predicate()
                if value:
                    return value
            except Exception as exc:  # a transient error while a fault is active is expected
                last_error = exc
            if time.monotonic() >= deadline:
                extra = f" (last error: {last_error})" if last_error else ""
                # named in the report (a stuck job is a finding, not "no evidence recorded")
                self.evidence("waited_for", what, expected=f"within {timeout:.1f} s", holds=False)
                detail = {"waiting_for": what, "timeout_s": round(timeout, 1)}
                self.expect(
                    "reached_in_time",
                    False,
                    detail=detail | ({"last_error": str(last_error)} if last_error else {}),
                )
                raise AssertionError(f"timed out after {timeout:.1f}s waiting for: {what}{extra}")
            time.sleep(interval)
