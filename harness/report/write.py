"""Write every report file of one audit into the report directory, from one :class:`AuditReport`.

Histories are read back from ``histories/<id>.jsonl`` (what the plugin saved); a history that is
missing or unreadable only costs that scenario its timeline, never the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.history import History
from harness.report.allure_results import write_environment
from harness.report.html import write_html
from harness.report.json_report import write_json
from harness.report.junit import write_junit
from harness.report.markdown import write_markdown
from harness.report.model import AuditReport

REPORT_FILES = ("audit.json", "audit.md", "audit.html", "junit.xml")
ALLURE_DIR = "allure-results"


def load_histories(report_dir: Path, ids: Iterable[str]) -> dict[str, History]:
    """The saved histories of ``ids`` that exist and parse."""
    out: dict[str, History] = {}
    for sid in ids:
        path = report_dir / "histories" / f"{sid}.jsonl"
        try:
            out[sid] = History.load(path)
        except (OSError, ValueError):
            continue
    return out


def write_reports(report: AuditReport, report_dir: Path) -> dict[str, Path]:
    """Write audit.json, audit.md, audit.html, junit.xml and Allure environment files; returns the paths."""
    report_dir.mkdir(parents=True, exist_ok=True)
    histories = load_histories(report_dir, [s.id for s in report.scenarios])
    paths = {
        "json": write_json(report, report_dir / "audit.json"),
        "markdown": write_markdown(report, report_dir / "audit.md"),
        "html": write_html(report, histories, report_dir / "audit.html"),
        "junit": write_junit(report, report_dir / "junit.xml"),
    }
    allure_dir = report_dir / ALLURE_DIR
    write_environment(report, allure_dir)
    if allure_dir.is_dir():
        paths["allure"] = allure_dir
    return paths
