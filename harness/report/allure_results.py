"""Allure: labels and attachments for each scenario (inside pytest), environment files (after the run).

allure-pytest writes the results; this module only adds what makes them an audit: labels epic =
the audit (seed), feature = the task, story = the scenario id, severity mapped from the catalogue,
and attachments a reviewer needs without the stack at hand: the evidence and checks as JSON, an
excerpt of the history (faults, ops, provider calls, on one clock), and the relevant log lines of
the scenario's services. Called from the plugin only when the allure plugin is active.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness import catalog
from harness.catalog import Severity
from harness.faults.registry import label
from harness.history import FaultEvent, History, LedgerEvent, OpEvent, SampleEvent
from harness.report.model import AuditReport
from harness.report.timeline import POLL_OPS

#: catalogue severity -> Allure severity
ALLURE_SEVERITY = {Severity.CRITICAL: "blocker", Severity.HIGH: "critical", Severity.MEDIUM: "normal"}
HISTORY_EXCERPT_LINES = 400
LOG_LINES_PER_SERVICE = 120
_LOUD = re.compile(r'"level"\s*:\s*"(warn|warning|error|critical|fatal)"|traceback|exception|\berror\b', re.I)


def label_scenario(meta: Mapping[str, Any]) -> None:
    """Give the current Allure test its audit labels: epic, feature, story, severity."""
    import allure

    sid = str(meta.get("id", "?"))
    known = catalog.entry(sid)
    severity = known.severity if known else Severity.parse(str(meta.get("severity", "HIGH")))
    dynamic: Any = allure.dynamic  # allure's API is untyped
    dynamic.epic(known.audit if known else "audit")
    dynamic.feature(known.task if known else str(meta.get("task", "other")))
    dynamic.story(sid)
    dynamic.severity(allure.severity_level(ALLURE_SEVERITY[severity]))


def title_scenario(meta: Mapping[str, Any]) -> None:
    """Name the current Allure test ``<id>: <title>`` (during the call: allure renames it after setup)."""
    import allure

    dynamic: Any = allure.dynamic
    dynamic.title(f"{meta.get('id', '?')}: {meta.get('title', '')}")


def history_excerpt(history: History, *, limit: int = HISTORY_EXCERPT_LINES) -> str:
    """The history as text, one event per line at ``+seconds``; polling reads and samples left out."""
    events = history.timeline()
    if not events:
        return "(empty history)"
    t0 = events[0].time
    lines: list[str] = []
    for e in events:
        at = f"+{e.time - t0:8.3f}s"
        if isinstance(e, FaultEvent):
            what = label(e.name, e.target, e.details)
            lines.append(f"{at} fault  {what} {e.phase.value} {e.details or ''}".rstrip())
        elif isinstance(e, OpEvent) and e.f not in POLL_OPS:
            lines.append(f"{at} op     {e.process} {e.f} {e.type.value} {e.error or json.dumps(e.value)}")
        elif isinstance(e, LedgerEvent):
            x = e.entry
            lines.append(
                f"{at} call   nth={x.get('nth')} item={x.get('item_id')} attempt={x.get('attempt')} "
                f"status={x.get('status')} outcome={x.get('outcome')} key={x.get('idempotency_key')}"
            )
        elif isinstance(e, SampleEvent) and e.entity == "db":
            lines.append(f"{at} sample database {e.state}")
    cut = len(lines) - limit
    return "\n".join(lines[:limit] + ([f"... {cut} more lines in histories/<id>.jsonl"] if cut > 0 else []))


def relevant_log_lines(path: Path, *, limit: int = LOG_LINES_PER_SERVICE) -> str:
    """Warnings, errors and tracebacks of one service log, else its last lines."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(log not readable: {exc})"
    loud = [line for line in lines if _LOUD.search(line)]
    picked = loud[-limit:] if loud else lines[-min(limit, 40) :]
    return "\n".join(picked) or "(empty log)"


def attach_scenario(run: Any, record: Mapping[str, Any] | None) -> None:
    """Attach evidence + checks (JSON), the history excerpt and each started service's log lines."""
    import allure

    evidence = {
        "evidence": (record or {}).get("evidence", {}),
        "checks": (record or {}).get("checks", []),
        "verdict": (record or {}).get("verdict"),
        "reason": (record or {}).get("reason"),
    }
    allure.attach(
        json.dumps(evidence, indent=2, default=str),
        name="evidence",
        attachment_type=allure.attachment_type.JSON,
    )
    allure.attach(
        history_excerpt(run.history), name="history excerpt", attachment_type=allure.attachment_type.TEXT
    )
    for service in list(getattr(run.stack, "started", [])):
        try:
            path = run.stack.log_path(service)
        except Exception:  # a backend that cannot say where its logs are: nothing to attach
            path = None
        if path is not None:
            allure.attach(
                relevant_log_lines(Path(path)),
                name=f"log: {service}",
                attachment_type=allure.attachment_type.TEXT,
            )


def write_environment(report: AuditReport, results_dir: Path) -> None:
    """environment.properties, executor.json and categories.json so the Allure report shows the audit."""
    if not results_dir.is_dir():
        return
    ctx = report.context
    env = {
        "target": report.target.name,
        "target_file": ctx.target_file or "reference",
        "backend": ctx.backend,
        "seed": str(ctx.seed),
        "defects": ",".join(ctx.defects) or "none",
        "score": report.score,
        "gate": f"{'passed' if report.gate_passed else 'failed'} (fail on {ctx.fail_on})",
        "chaos_audit": report.harness_version,
    }
    (results_dir / "environment.properties").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    executor = {
        "name": "chaos-audit",
        "type": "chaos-audit",
        "buildName": f"audit {report.started_iso}",
        "reportName": f"chaos-audit: {report.target.name} ({report.score})",
    }
    (results_dir / "executor.json").write_text(json.dumps(executor, indent=2))
    categories = [
        {"name": "Audit findings (target failed a check)", "matchedStatuses": ["failed"]},
        {"name": "Not decided (unknown)", "matchedStatuses": ["skipped"]},
        {"name": "Harness errors", "matchedStatuses": ["broken"]},
    ]
    (results_dir / "categories.json").write_text(json.dumps(categories, indent=2))
