"""Evidence and violations read the same everywhere; the number that decided a failure comes first."""

from __future__ import annotations

from harness.report.evidence import evidence_text, format_value, mismatched, ordered, violation_text


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
