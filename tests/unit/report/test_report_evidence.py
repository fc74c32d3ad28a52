"""Evidence and violations read the same everywhere; the number that decided a failure comes first."""

from __future__ import annotations

import pytest

from harness.report.evidence import evidence_text, format_value, judge, mismatched, ordered, violation_text


def test_expectations_are_printed_with_what_was_expected() -> None:
    assert format_value({"value": 9, "expected": 8}) == "9 (expected 8)"
    assert format_value(True) == "yes" and format_value(None) == "none"
    assert format_value(0.123456) == "0.123"
    assert format_value(list(range(20))).endswith("... 20 in all]")
    assert len(format_value("x" * 500)) == 120


def test_text_expectations_compare_by_their_numbers() -> None:
    assert not mismatched({"value": "7 done / 13 remaining", "expected": "7/13"})
    assert mismatched({"value": "6 done / 14 remaining", "expected": "7/13"})
    assert mismatched({"value": "failed", "expected": "completed"})
    assert not mismatched({"value": "Completed", "expected": "completed"})
    assert mismatched({"value": 9, "expected": 8}) and not mismatched(9)


def test_mismatches_come_first_and_limit_says_how_many_are_left() -> None:
    evidence = {"a": 1, "b": {"value": 9, "expected": 8}, "c": "x"}
    assert [k for k, _ in ordered(evidence)] == ["b", "a", "c"]
    assert evidence_text(evidence, limit=1) == "b: 9 (expected 8); +2 more"
    assert evidence_text({}) == "no evidence recorded"


def test_a_violation_shows_first_and_differing_worst_and_last() -> None:
    v = {
        "kind": "duplicate_outputs",
        "count": 3,
        "first": {"item": 1},
        "worst": {"item": 1},
        "last": {"item": 7},
    }
    assert violation_text(v) == "duplicate_outputs x3 (first: item=1); last: item=7"


@pytest.mark.parametrize(
    ("got", "want", "verdict"),
    [
        ([1.0, 1.001, 1.001], "<= 2.0 each", True), ([1.0, 2.5], "<= 2.0 each", False),
        (1.02, "~lease (1.0 s), < 5.0", True), (6.1, "~lease (1.0 s), < 5.0", False),
        (3.06, ">= deadline 3.0", True), (2.9, ">= deadline 3.0", False),
        (4, "3-5", True), (7, "3-5", False), ("4", "3..5", True),
        ("timeout", "timeout or failed", True), ("completed", "timeout or failed", False),
        ("retrying", "failed (or retrying)", True), ("HTTP 409", "409 or the same batch id", True),
        ("HTTP 200, 20/20 completed", "HTTP 200, 20/20", True), ("HTTP 200, 19/20 completed", "HTTP 200, 20/20", False),
        ("yes", "no", False), (True, True, True), ([], [], True),
        # prose cannot be decided: never "differs"
        ("timeout ReadTimeout: no answer in time", "names timeout", None),
        ("batch.deadline_exceeded", "an error-level log line for the batch", None),
        (3.08, "~3.0", None), ("yes", "observable", None), ("HTTP 200, id same", "409 or the same batch id", None),
    ],
)  # fmt: skip
def test_an_expectation_is_judged_only_where_its_text_can_be(
    got: object, want: object, verdict: bool | None
) -> None:
    assert judge(got, want) is verdict
    assert mismatched({"value": got, "expected": want}) is (verdict is False)


def test_the_scenarios_own_judgement_decides_before_the_text() -> None:
    assert mismatched({"value": "ok", "expected": "names timeout", "holds": False})
    assert not mismatched({"value": 9, "expected": 8, "holds": True})
