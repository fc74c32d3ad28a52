"""The four report files, written from one record, agree with each other and follow the seeds' template."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.report import AuditReport, write_reports
from harness.report.markdown import render_markdown


def _write(make_report: Callable[..., AuditReport], run: dict[str, Any] | None, report_dir: Path,
           **ctx: Any) -> dict[str, Path]:  # fmt: skip
    return write_reports(make_report(run, **ctx), report_dir)


def test_all_four_files_are_written_and_consistent(
    make_report: Callable[..., AuditReport], run_record: dict[str, Any], report_dir: Path
) -> None:
    paths = _write(make_report, run_record, report_dir)
    assert {p.name for p in paths.values()} == {"audit.json", "audit.md", "audit.html", "junit.xml"}
    data = json.loads(paths["json"].read_text())
    md, html = paths["markdown"].read_text(), paths["html"].read_text()
    junit = ET.parse(paths["junit"]).getroot()
    assert data["schema_version"] == 1 and data["score"] == "FAIL" and data["seed"] == 424242
    assert f"**Score: {data['score']}**" in md and f"## Overall Score: {data['score']}" in md
    assert f'id="score">{data["score"]}<' in html
    suite = junit.find("testsuite")
    assert (
        suite is not None and suite.find("properties/property[@name='score']").get("value") == data["score"]
    )  # type: ignore[union-attr]
    ids = [s["id"] for s in data["scenarios"]]
    cases = [c.get("name", "").split(":")[0] for c in suite.iter("testcase")]
    assert cases == ids
    for s in data["scenarios"]:
        assert s["id"] in md and f'id="sc-{s["id"]}"' in html
    verdict_by_case = {c.get("name", "").split(":")[0]: ("fail" if c.find("failure") is not None else "unknown"
                       if c.find("skipped") is not None else "pass") for c in suite.iter("testcase")}  # fmt: skip
    assert verdict_by_case == {s["id"]: s["verdict"] for s in data["scenarios"]}
    assert suite.get("tests") == "3" and suite.get("failures") == "1" and suite.get("skipped") == "1"


def test_audit_json_scenarios_have_the_documented_fields(
    make_report: Callable[..., AuditReport], run_record: dict[str, Any], report_dir: Path
) -> None:
    data = json.loads(_write(make_report, run_record, report_dir)["json"].read_text())
    for key in (
        "score",
        "seed",
        "started_at",
        "duration_s",
        "target",
        "backend",
        "scenarios",
        "gate",
        "complete",
    ):
        assert key in data
    assert data["started_at"] == "2026-11-23T13:20:00+00:00"
    failed = data["scenarios"][1]
    for key in ("id", "title", "task", "severity", "verdict", "evidence", "violations", "duration_s"):
        assert key in failed
    assert failed["violations"][0]["check"] == "duplicate_outputs" and failed["violations"][0]["count"] == 1
    # the fix of the check that failed (a shared invariant's), not the scenario's headline
    assert failed["remediation"]["effort"] == "S" and data["scenarios"][0]["remediation"] is None
    assert failed["fixes"][0]["checks"] == ["duplicate_outputs"]
    assert data["gate"] == {"fail_on": "high", "passed": False, "failing": ["TEST-RR-006"], "decided": True}
    assert data["target"]["defects"] == ["no_fencing"] and data["workflows"][0]["name"] == "Batch generation"


def test_markdown_follows_both_templates_and_names_finding_and_remediation(
    make_report: Callable[..., AuditReport], run_record: dict[str, Any]
) -> None:
    md = render_markdown(make_report(run_record))
    for heading in ("## System: reference-target", "## Date: 2026-11-23", "## Auditor: chaos-audit",
                    "## Long-Running Workflows Identified", "## Workflow Inventory (Task 1)",
                    "## Test Results: Recovery & Resume Audit", "## Test Results: Reliability & Resilience Audit",
                    "## Test Results by Task", "## Findings by Severity", "### CRITICAL (1)", "## Remediation Plan",
                    "## Overall Score: FAIL", "## Reproduce"):  # fmt: skip
        assert heading in md, heading
    row = next(line for line in md.splitlines() if line.startswith("| TEST-RR-004 |"))
    assert (
        "| HIGH | PASS | state at kill: 7 done / 13 remaining (expected 7/13); resumed from item: 8 (expected 8)"
        in row
    )
    assert "results committed: 2 (expected 1)" in md  # the evidence column holds measured numbers
    assert "#### TEST-RR-006: Concurrent resume after network partition" in md
    assert "Violation (duplicate_outputs): duplicate_outputs x1" in md
    assert re.search(r"\*\*Remediation\*\* for duplicate_outputs \(effort S\): Store at most one output", md)
    assert "| Batch generation | 0.5-5 s for 20 items | yes; measured: TEST-RR-004 PASS |" in md
    assert "TEST-RR-Q03: Queue backpressure and priority: observe.metrics" in md  # unknown with its reason
    assert "chaos-audit run --defect no_fencing --seed 424242" in md
    assert "| Recovery & Resume | 2 | 1 | 1 | 0 | TEST-RR-006 |" in md


def test_an_incomplete_run_says_which_scenarios_are_missing_in_every_file(
    make_report: Callable[..., AuditReport], run_record: dict[str, Any], report_dir: Path
) -> None:
    run_record["scenarios"] = run_record["scenarios"][:1]
    paths = _write(
        make_report, run_record, report_dir, interrupted=True, incomplete_reason="interrupted (Ctrl-C)"
    )
    data = json.loads(paths["json"].read_text())
    assert data["complete"] is False and [m["id"] for m in data["missing"]] == ["TEST-RR-006", "TEST-RR-Q03"]
    assert data["gate"]["decided"] is False
    md = paths["markdown"].read_text()
    assert "**INCOMPLETE RUN**: interrupted (Ctrl-C)" in md and "| TEST-RR-006 | Concurrent resume" in md
    assert "CI gate (`--fail-on high`): not decided (incomplete run)" in md
    assert 'id="incomplete"' in paths["html"].read_text()
    errors = ET.parse(paths["junit"]).getroot().findall(".//testcase/error")
    assert [e.get("message") for e in errors] == ["interrupted before it ran"] * 2


def test_html_is_self_contained_with_one_timeline_per_scenario(
    make_report: Callable[..., AuditReport], run_record: dict[str, Any], report_dir: Path
) -> None:
    html = _write(make_report, run_record, report_dir)["html"].read_text()
    assert html.count('<svg class="timeline"') == 3
    assert html.count('<g class="lane"') == 5  # only TEST-RR-006 has a saved history; the others say so
    assert html.count("no history was saved for this scenario") == 2
    external = [u for u in re.findall(r"(?:src|href)=\"([^\"#][^\"]*)\"", html)]
    assert external == [] and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<style>" in html and "<script>" in html and '<table id="results">' in html


def test_allure_environment_is_written_only_when_allure_results_exist(
    make_report: Callable[..., AuditReport], run_record: dict[str, Any], report_dir: Path
) -> None:
    assert "allure" not in _write(make_report, run_record, report_dir)
    (report_dir / "allure-results").mkdir()
    paths = _write(make_report, run_record, report_dir)
    env = (paths["allure"] / "environment.properties").read_text()
    assert "score=FAIL\n" in env and "seed=424242\n" in env and "defects=no_fencing\n" in env
    assert json.loads((paths["allure"] / "categories.json").read_text())[0]["matchedStatuses"] == ["failed"]


def test_html_marks_red_only_what_differs_and_lists_results_in_the_seeds_order(
    make_report: Callable[..., AuditReport], run_record: dict[str, Any], report_dir: Path
) -> None:
    passing = run_record["scenarios"][0]  # TEST-RR-004, passed: prose and bounds that held
    passing["evidence"] |= {
        "item_error": {"value": "timeout ReadTimeout", "expected": "names timeout"},
        "call_durations_s": {"value": [1.0, 1.001], "expected": "<= 2.0 each"},
        "job_state": {"value": "timeout", "expected": "timeout or failed"},
    }
    failing = run_record["scenarios"][1]  # TEST-RR-006
    failing["evidence"] = {
        "results": {"value": 2, "expected": 1},
        "why": {"value": "x", "expected": "prose", "holds": False},
    }
    run_record["scenarios"].reverse()  # pytest's order is not the seeds' order
    html = _write(make_report, run_record, report_dir)["html"].read_text()
    rr004 = html[html.index('id="sc-TEST-RR-004"') : html.index('id="sc-TEST-RR-006"')]
    assert 'class="mismatch"' not in rr004
    rr006 = html[html.index('id="sc-TEST-RR-006"') :]
    assert rr006.count('class="mismatch"') >= 2
    table = html[html.index('<table id="results">') :]
    assert table.index("TEST-RR-004") < table.index("TEST-RR-006") < table.index("TEST-RR-Q03")
