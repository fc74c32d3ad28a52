"""The audit record: one value built from the plugin's ``run.json``, the target file and the run's context.

Every writer (JSON, Markdown, HTML, JUnit, console) reads this one value, so the four report files
cannot disagree: a verdict, a score or a gate decision is computed here once. The score rule is
the seeds': PASS when every scenario passes, FAIL when any CRITICAL scenario fails, PARTIAL
otherwise; a run that did not complete can never score PASS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import catalog
from harness.catalog import Severity
from harness.catalog.diagnosis import Fix, fixes_for
from harness.target.model import Target

SCHEMA_VERSION = 1
FAIL_ON = ("critical", "high", "medium", "any")
#: the gate's default minimum share of decided scenarios: a run that could look at less than half of
#: what it was asked to audit does not pass silently (``--min-decided``; 0 turns it off)
DEFAULT_MIN_DECIDED = 0.5
VERDICTS = ("pass", "fail", "unknown")


@dataclass(frozen=True, kw_only=True)
class ScenarioResult:
    """One scenario's verdict with the measured numbers behind it."""

    id: str
    title: str
    task: str
    audit: str
    severity: Severity
    verdict: str
    evidence: Mapping[str, Any]
    violations: tuple[Mapping[str, Any], ...]
    duration_s: float
    reason: str = ""
    checks: tuple[Mapping[str, Any], ...] = ()
    harness_error: bool = False
    history: str | None = None
    #: the target contract's fields the scenario asked for, and those it did not declare in needs
    contract_used: tuple[str, ...] = ()
    undeclared_use: tuple[str, ...] = ()
    #: the checks that could not be decided on this target, with why (``name``, ``why``, ``core``)
    undecided: tuple[Mapping[str, Any], ...] = ()

    @property
    def failed_checks(self) -> list[str]:
        return list(dict.fromkeys(str(c.get("name")) for c in self.checks if c.get("valid") == "false"))

    @property
    def fixes(self) -> list[Fix]:
        """What to change in the target, per failed check; only a failed scenario has any."""
        return fixes_for(self.id, self.failed_checks) if self.verdict == "fail" else []

    @property
    def remediation(self) -> str | None:
        """The fixes as one text (a failed scenario only)."""
        return " ".join(f.text for f in self.fixes) or None

    @property
    def decided(self) -> bool:
        return self.verdict in ("pass", "fail")

    @property
    def pass_with_undecided(self) -> bool:
        """Passed every core check, but some secondary checks could not be looked at."""
        return self.verdict == "pass" and bool(self.undecided)


@dataclass(frozen=True, kw_only=True)
class MissingScenario:
    """A scenario that was asked for but has no verdict, and why (interrupted, not built, harness error)."""

    id: str
    title: str
    severity: Severity
    why: str


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """What the run command knows that ``run.json`` does not: how the audit was asked for, and when."""

    target_file: str | None
    backend: str
    seed: int
    started_at: float
    duration_s: float
    only: tuple[str, ...] = ()
    defects: tuple[str, ...] = ()
    fail_on: str = "high"
    min_decided: float = DEFAULT_MIN_DECIDED
    interrupted: bool = False
    incomplete_reason: str = ""
    report_dir: Path = Path("chaos-report")


@dataclass(frozen=True, kw_only=True)
class AuditReport:
    """The whole audit: what a reader of any report file sees."""

    target: Target
    context: RunContext
    scenarios: tuple[ScenarioResult, ...]
    missing: tuple[MissingScenario, ...] = ()
    not_built: tuple[str, ...] = ()
    command: str = ""
    harness_version: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def harness_errors(self) -> list[ScenarioResult]:
        """Scenarios the harness could not set up or drive (unknown: never the target's fault)."""
        return [s for s in self.scenarios if s.harness_error]

    @property
    def complete(self) -> bool:
        """True when every scenario asked for ran to a verdict (else the CLI exits 3)."""
        return not (
            self.missing or self.harness_errors or self.context.interrupted or self.context.incomplete_reason
        )

    @property
    def score(self) -> str:
        return score_of(self.scenarios, complete=self.complete)

    @property
    def gate_failures(self) -> list[str]:
        out = gate_failures(self.scenarios, self.context.fail_on)
        share, wanted = self.decided_share, self.context.min_decided
        if self.scenarios and share < wanted:
            out.append(f"only {share:.0%} of scenarios decided (minimum {wanted:.0%})")
        return out

    @property
    def decided_share(self) -> float:
        """Decided scenarios (pass or fail) over those that ran; harness errors count as undecided."""
        return sum(s.decided for s in self.scenarios) / len(self.scenarios) if self.scenarios else 0.0

    def checked_text(self) -> str:
        """How much was actually checked, in one line (the console's last word on the audit)."""
        total = len(self.scenarios)
        decided = sum(s.decided for s in self.scenarios)
        checks = [c for s in self.scenarios for c in s.checks]
        open_checks = sum(1 for c in checks if c.get("valid") == "unknown")
        partial = sum(s.pass_with_undecided for s in self.scenarios)
        return (
            f"Checked: {decided} of {total} scenarios decided ({self.decided_share:.0%}); "
            f"{len(checks) - open_checks} of {len(checks)} checks decided"
            + (f"; {partial} passed with undecided secondary checks" if partial else "")
        )

    @property
    def gate_passed(self) -> bool:
        return not self.gate_failures

    @property
    def gate_text(self) -> str:
        """The gate decision in words; an incomplete run decides nothing (the CLI exits 3)."""
        if not self.complete:
            return "not decided (incomplete run)"
        return "passed" if self.gate_passed else "FAILED (" + ", ".join(self.gate_failures) + ")"

    @property
    def started_iso(self) -> str:
        return dt.datetime.fromtimestamp(self.context.started_at, dt.UTC).isoformat(timespec="seconds")

    @property
    def date(self) -> str:
        return self.started_iso[:10]

    def counts(self) -> dict[str, int]:
        """How many scenarios per verdict, plus ``missing``."""
        out = {v: sum(1 for s in self.scenarios if s.verdict == v) for v in VERDICTS}
        out["missing"] = len(self.missing)
        return out

    def by_task(self) -> list[tuple[str, list[ScenarioResult]]]:
        """Scenarios grouped by task, in the seeds' task order (tasks outside it last)."""
        order = {t: i for i, t in enumerate(catalog.TASKS)}
        groups: dict[str, list[ScenarioResult]] = {t: [] for t in catalog.TASKS}
        for s in self.scenarios:
            groups.setdefault(s.task, []).append(s)
        return sorted(groups.items(), key=lambda kv: order.get(kv[0], len(order)))


def score_of(scenarios: Sequence[ScenarioResult], *, complete: bool = True) -> str:
    """PASS when every scenario passes, FAIL when any CRITICAL one fails, PARTIAL otherwise."""
    if any(s.verdict == "fail" and s.severity is Severity.CRITICAL for s in scenarios):
        return "FAIL"
    if scenarios and complete and all(s.verdict == "pass" for s in scenarios):
        return "PASS"
    return "PARTIAL"


def gate_failures(scenarios: Sequence[ScenarioResult], fail_on: str) -> list[str]:
    """Ids that fail the CI gate: failed at or above ``fail_on`` severity; ``any`` = anything not passed.

    A harness error never counts against the target: it makes the run incomplete instead (exit 3).
    """
    scenarios = [s for s in scenarios if not s.harness_error]
    if fail_on == "any":  # strict: unknown, and a pass with undecided checks, do not pass
        return [s.id for s in scenarios if s.verdict != "pass" or s.pass_with_undecided]
    threshold = Severity(fail_on.upper()).rank
    return [s.id for s in scenarios if s.verdict == "fail" and s.severity.rank >= threshold]


def scenario_from_record(record: Mapping[str, Any], report_dir: Path | None = None) -> ScenarioResult:
    """One ``run.json`` scenario record as a result; catalogue ids take the catalogue's task and severity."""
    sid = str(record.get("id", "?"))
    known = catalog.entry(sid)
    checks = tuple(record.get("checks") or ())
    violations = tuple(
        {"check": c.get("name", "?"), **v}
        for c in checks
        if c.get("valid") == "false"
        for v in c.get("violations", ())
    )
    history = f"histories/{sid}.jsonl"
    harness_error = bool(record.get("harness_error", False))
    verdict = "unknown" if harness_error else str(record.get("verdict", "unknown"))  # never a finding
    return ScenarioResult(
        id=sid,
        title=str(record.get("title") or (known.title if known else sid)),
        task=known.task if known else str(record.get("task", "other")),
        audit=known.audit if known else str(record.get("task", "other")),
        severity=known.severity if known else Severity.parse(str(record.get("severity", "HIGH"))),
        verdict=verdict if verdict in VERDICTS else "unknown",
        evidence=dict(record.get("evidence") or {}),
        violations=violations,
        duration_s=float(record.get("duration_s") or 0.0),
        reason=str(record.get("reason") or ""),
        checks=checks,
        harness_error=harness_error,
        contract_used=tuple(record.get("contract_used") or ()),
        undeclared_use=tuple(record.get("undeclared_use") or ()),
        undecided=tuple(record.get("undecided") or ()),
        history=history if report_dir is None or (report_dir / history).exists() else None,
    )


def build_report(
    run: Mapping[str, Any] | None,
    target: Target,
    context: RunContext,
    *,
    command: str = "",
    harness_version: str = "",
) -> AuditReport:
    """Combine ``run.json`` (None when the run died before writing it) with the target and context."""
    records = list((run or {}).get("scenarios") or [])
    # in the seeds' order, whatever order pytest ran them in (sorted() is stable: others keep theirs)
    found = (scenario_from_record(r, context.report_dir) for r in records)
    scenarios = tuple(sorted(found, key=lambda s: catalog.seed_order(s.id)))
    done = {s.id for s in scenarios}
    collected = [c for c in (run or {}).get("collected") or [] if c.get("id") not in done]
    why = "interrupted before it ran" if context.interrupted else "did not report a verdict (harness error)"
    missing = [_missing(str(c.get("id")), why, c) for c in collected]
    seen = done | {m.id for m in missing}
    missing += [
        _missing(i, "not built in this version (no scenario implements it)")
        for i in context.only
        if i not in seen
    ]
    not_built = () if context.only else tuple(e.id for e in catalog.ENTRIES if e.id not in seen)
    notes: list[str] = []
    for defect in context.defects:
        catching = catalog.ids_catching(defect)
        notes.append(
            f"defect under audit: {defect} (catalogue scenarios that must catch it: "
            f"{', '.join(catching) or 'none'})"
        )
    return AuditReport(
        target=target,
        context=context,
        scenarios=scenarios,
        missing=tuple(missing),
        not_built=not_built,
        command=command,
        harness_version=harness_version,
        notes=tuple(notes),
    )


def _missing(sid: str, why: str, record: Mapping[str, Any] | None = None) -> MissingScenario:
    known = catalog.entry(sid)
    title = known.title if known else str((record or {}).get("title", sid))
    severity = known.severity if known else Severity.parse(str((record or {}).get("severity", "HIGH")))
    return MissingScenario(id=sid, title=title, severity=severity, why=why)
