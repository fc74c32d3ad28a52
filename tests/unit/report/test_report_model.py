"""The audit record: the seeds' score rule, the CI gate, and what an incomplete run looks like."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.catalog import Severity
from harness.report import AuditReport, ScenarioResult, gate_failures, score_of


def _s(sid: str, verdict: str, severity: Severity) -> ScenarioResult:
    return ScenarioResult(id=sid, title=sid, task="t", audit="a", severity=severity, verdict=verdict,
                          evidence={}, violations=(), duration_s=0.0)  # fmt: skip


@pytest.mark.parametrize(
    ("verdicts", "score"),
    [
        ([("pass", Severity.CRITICAL), ("pass", Severity.MEDIUM)], "PASS"),
        ([("pass", Severity.CRITICAL), ("fail", Severity.HIGH)], "PARTIAL"),
        ([("pass", Severity.CRITICAL), ("unknown", Severity.HIGH)], "PARTIAL"),  # unknown is never a pass
        ([("fail", Severity.CRITICAL), ("pass", Severity.HIGH)], "FAIL"),
        ([], "PARTIAL"),
    ],
)
def test_score_follows_the_seeds(verdicts: list[tuple[str, Severity]], score: str) -> None:
    assert score_of([_s(f"T{i}", v, sev) for i, (v, sev) in enumerate(verdicts)]) == score


def test_an_incomplete_run_never_scores_pass() -> None:
    assert score_of([_s("T", "pass", Severity.HIGH)], complete=False) == "PARTIAL"


def test_the_gate_fails_at_or_above_the_chosen_severity() -> None:
    scenarios = [_s("C", "pass", Severity.CRITICAL), _s("H", "fail", Severity.HIGH),
                 _s("M", "fail", Severity.MEDIUM), _s("U", "unknown", Severity.CRITICAL)]  # fmt: skip
    assert gate_failures(scenarios, "critical") == []
    assert gate_failures(scenarios, "high") == ["H"]
    assert gate_failures(scenarios, "medium") == ["H", "M"]
    assert gate_failures(scenarios, "any") == ["H", "M", "U"]


def test_build_report_reads_verdicts_violations_and_catalogue_severity(
    make_report: Callable[..., AuditReport], run_record: dict[str, Any]
) -> None:
    run_record["scenarios"][1]["severity"] = "MEDIUM"  # a scenario module cannot downgrade a CRITICAL id
    report = make_report(run_record)
    by_id = {s.id: s for s in report.scenarios}
    assert [s.verdict for s in report.scenarios] == ["pass", "fail", "unknown"]
    assert by_id["TEST-RR-006"].severity is Severity.CRITICAL
    assert [v["check"] for v in by_id["TEST-RR-006"].violations] == ["duplicate_outputs", "completed_twice"]
    assert by_id["TEST-RR-Q03"].task == "8. Queue resilience"
    assert by_id["TEST-RR-006"].history == "histories/TEST-RR-006.jsonl"
    assert by_id["TEST-RR-004"].history is None  # no history saved for it in the fixture
    assert report.score == "FAIL" and report.complete and not report.gate_passed
    assert by_id["TEST-RR-006"].remediation and by_id["TEST-RR-004"].remediation is None
    assert "TEST-RR-001" in report.not_built and "TEST-RR-006" not in report.not_built
    assert report.notes == (
        "defect under audit: no_fencing (catalogue scenarios that must catch it: TEST-RR-006)",
    )
    assert report.counts() == {"pass": 1, "fail": 1, "unknown": 1, "missing": 0}


def test_collected_scenarios_without_a_verdict_are_missing(
    make_report: Callable[..., AuditReport], run_record: dict[str, Any]
) -> None:
    run_record["scenarios"] = run_record["scenarios"][:1]
    report = make_report(run_record, interrupted=True)
    assert [(m.id, m.why) for m in report.missing] == [
        ("TEST-RR-006", "interrupted before it ran"), ("TEST-RR-Q03", "interrupted before it ran")]  # fmt: skip
    assert not report.complete and report.score == "PARTIAL"


def test_only_ids_that_no_scenario_implements_are_missing_as_not_built(
    make_report: Callable[..., AuditReport], run_record: dict[str, Any]
) -> None:
    report = make_report(run_record, only=("TEST-RR-004", "TEST-RR-T01"))
    assert [(m.id, m.why.split(" (")[0]) for m in report.missing] == [
        ("TEST-RR-T01", "not built in this version")
    ]
    assert report.not_built == ()


def test_a_setup_error_is_a_harness_error_and_makes_the_run_incomplete(
    make_report: Callable[..., AuditReport], run_record: dict[str, Any]
) -> None:
    run_record["scenarios"][0].update(verdict="unknown", harness_error=True, reason="ReadinessTimeout: api")
    report = make_report(run_record)
    assert [s.id for s in report.harness_errors] == ["TEST-RR-004"] and not report.complete


def test_a_harness_error_never_counts_against_the_gate_not_even_with_fail_on_any(
    make_report: Callable[..., AuditReport], run_record: dict[str, Any]
) -> None:
    # TEST-RR-006 is CRITICAL and failed in the fixture: as a harness error it is no finding at all
    run_record["scenarios"][1].update(verdict="fail", harness_error=True, reason="ServiceError: api")
    report = make_report(run_record)
    by_id = {s.id: s for s in report.scenarios}
    assert by_id["TEST-RR-006"].verdict == "unknown" and by_id["TEST-RR-006"].remediation is None
    assert report.score != "FAIL" and not report.complete
    assert "TEST-RR-006" not in gate_failures(report.scenarios, "any")
    assert gate_failures(report.scenarios, "critical") == []


def test_a_run_that_died_before_run_json_has_no_scenarios(make_report: Callable[..., AuditReport]) -> None:
    report = make_report(None, incomplete_reason="the scenario run ended before writing run.json")
    assert report.scenarios == () and not report.complete and report.score == "PARTIAL"
