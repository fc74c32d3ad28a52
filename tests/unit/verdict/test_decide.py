"""harness.verdict.decide on literal check results: fail, unknown, pass with undecided checks."""

from __future__ import annotations

from harness.catalog.checks import ScenarioChecks, core, secondary
from harness.checkers.result import CheckResult, ViolationGroup
from harness.verdict import Verdict, absent_capability, decide

SPEC = ScenarioChecks(
    "TEST-X",
    (
        core("batch_completed"),
        core("state_*_reachable"),
        secondary("duplicate_outputs"),
        secondary("alert_logged"),
    ),
)


def ok(name: str) -> CheckResult:
    return CheckResult.from_violations(name, [])


def bad(name: str) -> CheckResult:
    return CheckResult.from_violations(name, [ViolationGroup.of(name, [{"item": 7}])])


def unknown(name: str) -> CheckResult:
    return CheckResult.unknown(name, "the target does not answer 'logs.events.failed'")


def test_all_core_checks_pass_and_an_undecided_secondary_is_listed_beside_the_pass() -> None:
    out = decide([ok("batch_completed"), ok("state_partial_reachable"), unknown("alert_logged")], SPEC)
    assert out.verdict is Verdict.PASS
    assert [u.name for u in out.undecided_secondary] == ["alert_logged"]


def test_a_failed_secondary_check_fails_the_scenario_even_with_undecided_core_checks() -> None:
    out = decide([bad("duplicate_outputs"), unknown("batch_completed")], SPEC)
    assert out.verdict is Verdict.FAIL and out.failed == ("duplicate_outputs",)


def test_an_undecided_core_check_makes_the_scenario_unknown_naming_it() -> None:
    out = decide([unknown("batch_completed"), ok("state_partial_reachable"), ok("duplicate_outputs")], SPEC)
    assert out.verdict is Verdict.UNKNOWN and "batch_completed" in out.reason


def test_a_core_check_never_reached_is_undecided() -> None:
    out = decide([ok("batch_completed")], SPEC)
    assert out.verdict is Verdict.UNKNOWN and "state_*_reachable" in out.reason


def test_a_check_the_catalogue_does_not_name_counts_as_core() -> None:
    out = decide([ok("batch_completed"), ok("state_a_reachable"), unknown("something_new")], SPEC)
    assert out.verdict is Verdict.UNKNOWN


def test_a_declared_absent_capability_is_a_failed_check_with_a_finding() -> None:
    result = absent_capability(
        "summary_actionable", "observe.batch_fields.summary", "null in its target file"
    )
    assert (
        not result.ok and result.violations[0].first["missing_capability"] == "observe.batch_fields.summary"
    )
    out = decide([ok("batch_completed"), ok("state_a_reachable"), result], SPEC)
    assert out.verdict is Verdict.FAIL


def test_no_check_at_all_is_never_a_pass() -> None:
    assert decide([], SPEC).verdict is Verdict.UNKNOWN
