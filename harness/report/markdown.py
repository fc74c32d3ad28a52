"""``audit.md``: the audit in the seeds' own two "Reusable Audit Report Template"s, filled with measurements.

Section for section it follows seed 000 (System, Date, Auditor, Long-Running Workflows Identified,
Test Results with an Evidence column, Score) and seed 001 (Workflow Inventory, Test Results by
Task, Overall Score) and adds what seed 001's Post-Audit Deliverables ask for: findings by
severity and remediation recommendations with effort estimates, plus the command that reproduces
the run. Workflow columns "Checkpoint? / Resume? / Idempotent Retry?" show the target file's claim
next to the scenario that measured it, so a claim the audit disproved is visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from harness import catalog
from harness.report.evidence import evidence_text, violation_text
from harness.report.model import AuditReport, ScenarioResult

#: which scenarios measure each workflow claim of seed 000's table
CLAIMS = {
    "checkpoint": ("TEST-RR-004",),
    "resume": ("TEST-RR-RE01", "TEST-RR-004"),
    "idempotent_retry": ("TEST-RR-002", "TEST-RR-R01", "TEST-RR-R03"),
}
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _result(s: ScenarioResult) -> str:
    if s.pass_with_undecided:
        return f"PASS ({len(s.undecided)} secondary check(s) undecided)"
    return {"pass": "PASS", "fail": "FAIL"}.get(s.verdict, "UNKNOWN (not applicable)")


def _claim(report: AuditReport, declared: bool | None, ids: Sequence[str]) -> str:
    said = {True: "yes", False: "no", None: "not declared"}[declared]
    measured = [s for s in report.scenarios if s.id in ids]
    if not measured:
        return f"{said} (not measured)"
    return f"{said}; measured: " + ", ".join(f"{s.id} {_result(s)}" for s in measured)


def _workflows(report: AuditReport) -> list[str]:
    flows = report.target.workflows
    out = ["## Long-Running Workflows Identified", ""]
    if not flows:
        return [*out, "The target file lists no workflows (`workflows:`).", ""]
    out += _table(
        ["Workflow", "Duration", "Checkpoint?", "Resume?", "Idempotent Retry?"],
        [
            (
                w.name,
                w.duration or "?",
                _claim(report, w.checkpoint, CLAIMS["checkpoint"]),
                _claim(report, w.resume, CLAIMS["resume"]),
                _claim(report, w.idempotent_retry, CLAIMS["idempotent_retry"]),
            )
            for w in flows
        ],
    )
    out += ["", "## Workflow Inventory (Task 1)", ""]
    out += _table(
        ["Workflow", "Steps", "Duration", "External Dependencies", "Risk"],
        [
            (
                w.name,
                "; ".join(w.steps) or "?",
                w.duration or "?",
                ", ".join(w.dependencies) or "none",
                w.risk,
            )
            for w in flows
        ],
    )
    return [*out, ""]


def _results(report: AuditReport) -> list[str]:
    out: list[str] = []
    audits = (catalog.RECOVERY_AUDIT, catalog.RELIABILITY_AUDIT, catalog.WORKFLOW_AUDIT, "Other scenarios")
    for audit in audits:
        rows = [
            s
            for s in report.scenarios
            if s.audit == audit or (audit == "Other scenarios" and catalog.entry(s.id) is None)
        ]
        if not rows:
            continue
        out += [f"## Test Results: {audit}", ""]
        out += _table(
            ["Test ID", "Description", "Severity", "Result", "Evidence"],
            [(s.id, s.title, s.severity.value, _result(s), evidence_text(s.evidence)) for s in rows],
        )
        out.append("")
    if report.missing:
        out += ["## Not Completed", ""]
        out += _table(
            ["Test ID", "Description", "Severity", "Why"],
            [(m.id, m.title, m.severity.value, m.why) for m in report.missing],
        )
        out.append("")
    return out


def _by_task(report: AuditReport) -> list[str]:
    rows = []
    for task, scenarios in report.by_task():
        critical = [s.id for s in scenarios if s.verdict == "fail" and s.severity.value == "CRITICAL"]
        rows.append(
            (
                task,
                len(scenarios),
                sum(s.verdict == "pass" for s in scenarios),
                sum(s.verdict == "fail" for s in scenarios),
                sum(s.verdict == "unknown" for s in scenarios),
                ", ".join(critical) or "none",
            )
        )
    table = _table(["Task", "Tests Run", "Passed", "Failed", "Unknown", "Critical Findings"], rows)
    return ["## Test Results by Task", "", *table, ""]


def _findings(report: AuditReport) -> list[str]:
    out = ["## Findings by Severity", ""]
    failed = [s for s in report.scenarios if s.verdict == "fail"]
    for level in SEVERITIES:
        group = [s for s in failed if s.severity.value == level]
        out += [f"### {level} ({len(group)})", ""]
        if not group:
            out += ["No finding.", ""]
        for s in group:
            out += [f"#### {s.id}: {s.title}", "", f"- Evidence: {evidence_text(s.evidence)}"]
            out += [f"- Violation ({v.get('check')}): {violation_text(v)}" for v in s.violations]
            if not s.violations and s.reason:
                out.append(f"- Failure: {s.reason.splitlines()[0][:400]}")
            out += [
                f"- **Remediation** for {', '.join(f.checks) or 'the scenario'} (effort {f.effort}): {f.text}"
                for f in s.fixes
            ]
            out.append("")
    unknown = [s for s in report.scenarios if s.verdict == "unknown"]
    if unknown:
        out += ["### Not decided (unknown: never counted as a pass)", ""]
        out += [
            f"- {s.id}: {s.title}: {s.reason.splitlines()[0][:300] if s.reason else 'no reason given'}"
            for s in unknown
        ]
        out.append("")
    partial = [s for s in report.scenarios if s.pass_with_undecided]
    if partial:
        out += ["### Passed with undecided secondary checks (what this target did not let the audit see)", ""]
        out += [
            f"- {s.id}: " + "; ".join(f"{u.get('name')} ({u.get('why')})" for u in s.undecided)
            for s in partial
        ]
        out.append("")
    return out


def _remediation_plan(report: AuditReport) -> list[str]:
    failed = sorted((s for s in report.scenarios if s.verdict == "fail"), key=lambda s: -s.severity.rank)
    if not failed:
        return []
    when = {"CRITICAL": "fix immediately", "HIGH": "next sprint", "MEDIUM": "backlog"}
    rows = [
        (when[s.severity.value], f"{s.id} ({', '.join(f.checks) or 'scenario'})", f.text, f.effort)
        for s in failed
        for f in s.fixes
    ]
    return [
        "## Remediation Plan",
        "",
        *_table(["Priority", "Finding", "What to change in the target", "Effort"], rows),
        "",
        "After fixing, rerun the command under *Reproduce* to verify (the seeds' retest plan).",
        "",
    ]


def render_markdown(report: AuditReport) -> str:
    """The whole ``audit.md``."""
    ctx, counts = report.context, report.counts()
    out = [
        "# Recovery & Resume / Reliability & Resilience Audit Report",
        "",
        f"## System: {report.target.name}",
        f"## Date: {report.date}",
        f"## Auditor: chaos-audit {report.harness_version} (automated, seed {ctx.seed})",
        "",
        f"**Score: {report.score}**. {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['unknown']} unknown"
        + (f", {counts['missing']} not completed" if counts["missing"] else "")
        + f". CI gate (`--fail-on {ctx.fail_on}`): {report.gate_text}"
        + ".",
        "",
    ]
    if not report.complete:
        reason = ctx.incomplete_reason or (
            "interrupted" if ctx.interrupted else "some scenarios have no verdict"
        )
        out += [f"> **INCOMPLETE RUN**: {reason}. See *Not Completed* below.", ""]
    out += [f"> {n}" for n in report.notes] + ([""] if report.notes else [])
    out += (
        _workflows(report)
        + _results(report)
        + _by_task(report)
        + _findings(report)
        + _remediation_plan(report)
    )
    out += [
        "## Overall Score: " + report.score,
        "",
        "PASS when every scenario passes; FAIL when any CRITICAL scenario fails; PARTIAL otherwise "
        "(an unknown verdict is never a pass).",
        "",
    ]
    if report.not_built:
        out += [
            "Catalogue scenarios not built in this version (not part of the score): "
            + ", ".join(report.not_built)
            + ".",
            "",
        ]
    out += [
        "## Reproduce",
        "",
        "```bash",
        report.command,
        "```",
        "",
        f"Target file: `{ctx.target_file or 'reference (built in)'}`; backend: {ctx.backend}; started "
        f"{report.started_iso}; took {ctx.duration_s:.1f} s. "
        "Histories: `histories/<id>.jsonl` beside this file.",
        "",
    ]
    return "\n".join(out)


def write_markdown(report: AuditReport, path: Path) -> Path:
    path.write_text(render_markdown(report))
    return path
