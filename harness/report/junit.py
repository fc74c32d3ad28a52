"""``junit.xml``: the audit as JUnit, written from the audit record rather than by pytest.

CI servers render JUnit natively; writing it from the same record as audit.json keeps the two
consistent (pytest's own file would name test functions instead of audit ids, and would lack the
scenarios an interrupted run never reached). Mapping: pass = passed testcase, fail = ``failure``
(violations, evidence, remediation), unknown = ``skipped`` (never a pass), not completed = ``error``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.report.evidence import evidence_text, violations_text
from harness.report.model import AuditReport, ScenarioResult


def _case(suite: ET.Element, s: ScenarioResult) -> None:
    case = ET.SubElement(
        suite, "testcase", classname=f"audit.{s.task}", name=f"{s.id}: {s.title}", time=f"{s.duration_s:.3f}"
    )
    props = ET.SubElement(case, "properties")
    for name, value in (("id", s.id), ("severity", s.severity.value), ("task", s.task), ("audit", s.audit)):
        ET.SubElement(props, "property", name=name, value=value)
    evidence = evidence_text(s.evidence, sep="\n")
    if s.verdict == "fail":
        message = violations_text(s.violations) or (s.reason.splitlines()[0] if s.reason else "failed")
        failure = ET.SubElement(case, "failure", message=message[:1000], type=f"{s.severity.value} finding")
        fixes = "\n".join(f"Remediation (effort {f.effort}) for {', '.join(f.checks) or s.id}: {f.text}"
                          for f in s.fixes)  # fmt: skip
        failure.text = f"{s.reason}\n\nEvidence:\n{evidence}\n\n{fixes}"
    elif s.verdict == "unknown":
        ET.SubElement(case, "skipped", message=f"unknown: {s.reason[:1000]}")
    undecided = "".join(f"\nundecided check {u.get('name')}: {u.get('why')}" for u in s.undecided)
    ET.SubElement(case, "system-out").text = evidence + undecided


def render_junit(report: AuditReport) -> str:
    """The JUnit XML document (one testsuite, one testcase per scenario or missing scenario)."""
    counts = report.counts()
    total = len(report.scenarios) + counts["missing"]
    attrs = {
        "name": f"chaos-audit: {report.target.name}",
        "tests": str(total),
        "failures": str(counts["fail"]),
        "errors": str(counts["missing"]),
        "skipped": str(counts["unknown"]),
        "time": f"{report.context.duration_s:.3f}",
        "timestamp": report.started_iso,
    }
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(root, "testsuite", attrs)
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("score", report.score),
        ("seed", str(report.context.seed)),
        ("backend", report.context.backend),
        ("gate", report.gate_text),
        ("command", report.command),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for s in report.scenarios:
        _case(suite, s)
    for m in report.missing:
        case = ET.SubElement(
            suite, "testcase", classname="audit.not-completed", name=f"{m.id}: {m.title}", time="0"
        )
        ET.SubElement(case, "error", message=m.why, type="incomplete")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: AuditReport, path: Path) -> Path:
    path.write_text(render_junit(report))
    return path
