"""``audit.json``: the machine-readable audit (schema documented in docs/audit-json.md).

``schema_version`` changes only when a field is removed or changes meaning; new fields may appear
in any version, so readers should ignore what they do not know. Every number a human report shows
comes from here, which is what makes the Markdown, HTML and JUnit files consistent with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.report.evidence import evidence_text
from harness.report.model import SCHEMA_VERSION, AuditReport, ScenarioResult


def scenario_json(s: ScenarioResult) -> dict[str, Any]:
    """One scenario: the documented fields first, then the extras."""
    return {
        "id": s.id,
        "title": s.title,
        "task": s.task,
        "severity": s.severity.value,
        "verdict": s.verdict,
        "evidence": dict(s.evidence),
        "violations": [dict(v) for v in s.violations],
        "duration_s": round(s.duration_s, 3),
        "audit": s.audit,
        "evidence_text": evidence_text(s.evidence),
        "reason": s.reason,
        "remediation": {"text": s.remediation, "effort": s.fixes[0].effort} if s.fixes else None,
        #: one fix per failed check (the diagnosis belongs to the check, not the scenario)
        "fixes": [f.to_json() for f in s.fixes],
        #: checks this target did not let the audit decide (beside a pass: secondary ones)
        "undecided": [dict(u) for u in s.undecided],
        "checks": [
            {"name": c.get("name"), "valid": c.get("valid"), "error": c.get("error")} for c in s.checks
        ],
        "harness_error": s.harness_error,
        "history": s.history,
        "contract_used": list(s.contract_used),
        "undeclared_use": list(s.undeclared_use),
    }


def report_json(report: AuditReport) -> dict[str, Any]:
    """The whole ``audit.json`` document."""
    ctx, target = report.context, report.target
    return {
        "schema_version": SCHEMA_VERSION,
        "score": report.score,
        "seed": ctx.seed,
        "started_at": report.started_iso,
        "duration_s": round(ctx.duration_s, 3),
        "target": {
            "name": target.name,
            "file": ctx.target_file or "reference",
            "description": target.description,
            "defects": list(ctx.defects),
        },
        "backend": ctx.backend,
        "scenarios": [scenario_json(s) for s in report.scenarios],
        "gate": {
            "fail_on": ctx.fail_on,
            "passed": report.gate_passed,
            "failing": report.gate_failures,
            "decided": report.complete,
        },
        "complete": report.complete,
        "incomplete_reason": ctx.incomplete_reason or ("interrupted" if ctx.interrupted else None),
        "missing": [
            {"id": m.id, "title": m.title, "severity": m.severity.value, "why": m.why} for m in report.missing
        ],
        "not_built": list(report.not_built),
        "counts": report.counts(),
        "only": list(ctx.only),
        "command": report.command,
        "harness_version": report.harness_version,
        "notes": list(report.notes),
        "workflows": [w.model_dump() for w in target.workflows],
    }


def write_json(report: AuditReport, path: Path) -> Path:
    path.write_text(json.dumps(report_json(report), indent=2, default=str) + "\n")
    return path
