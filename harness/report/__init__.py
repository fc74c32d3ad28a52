"""The audit report: one record (``model``) written as audit.json, audit.md, audit.html and junit.xml.

``build_report`` turns the plugin's ``run.json`` plus the target file and the run's context into an
:class:`AuditReport`; ``write_reports`` writes every file from that one value so they agree. The
catalogue (``catalog``) and the remediation texts (``remediation``) cover every id of docs/scenarios.md.
"""

from harness.report.model import (
    AuditReport,
    RunContext,
    ScenarioResult,
    build_report,
    gate_failures,
    score_of,
)
from harness.report.write import load_histories, write_reports

__all__ = [
    "AuditReport",
    "RunContext",
    "ScenarioResult",
    "build_report",
    "gate_failures",
    "load_histories",
    "score_of",
    "write_reports",
]
