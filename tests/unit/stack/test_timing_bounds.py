"""Timing bounds: what a scenario needs changed, on a stack that can change it and on one that cannot."""

from __future__ import annotations

from harness.stack.timing import at_least, at_most, changes_needed, prefer


def test_exact_values_change_unless_equal() -> None:
    assert changes_needed({"lease_s": 1.0}, {"lease_s": 1.0}) == {}
    assert changes_needed({"lease_s": 1.0}, {"lease_s": 2.0}) == {"lease_s": 2.0}


def test_a_bound_the_stack_meets_is_kept_and_one_it_misses_is_set() -> None:
    current = {"provider_timeout_s": 30.0, "batch_deadline_s": 30.0}
    assert changes_needed(current, {"provider_timeout_s": at_least(5.0)}) == {}
    assert changes_needed(current, {"provider_timeout_s": at_least(60.0)}) == {"provider_timeout_s": 60.0}
    assert changes_needed(current, {"batch_deadline_s": at_most(5.0)}) == {"batch_deadline_s": 5.0}


def test_a_preference_is_set_where_the_harness_can_and_bounded_where_it_cannot() -> None:
    current = {"batch_deadline_s": 30.0}
    short = {"batch_deadline_s": prefer(3.0, at_most=60.0)}
    assert changes_needed(current, short) == {"batch_deadline_s": 3.0}
    assert changes_needed(current, short, fixed=True) == {}
    assert changes_needed({"batch_deadline_s": 600.0}, short, fixed=True) == {"batch_deadline_s": 3.0}
