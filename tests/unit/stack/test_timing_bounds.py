"""Timing bounds: what a scenario needs changed, on a stack that can change it and on one that cannot."""

from __future__ import annotations

import pytest

from harness.errors import Undecidable
from harness.stack.timing import (
    MAX_WAIT_S,
    WAIT_BUDGET_S,
    at_least,
    at_most,
    changes_needed,
    prefer,
    require_wait,
    waitable,
)


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


def test_a_preference_may_ask_for_a_floor_a_running_stack_must_meet() -> None:
    threshold = {"breaker_threshold": prefer(10, at_least=3)}
    assert changes_needed({"breaker_threshold": 3}, threshold) == {"breaker_threshold": 10}
    assert changes_needed({"breaker_threshold": 3}, threshold, fixed=True) == {}
    assert changes_needed({"breaker_threshold": 2}, threshold, fixed=True) == {"breaker_threshold": 10}
    with pytest.raises(ValueError, match="at_most, at_least or both"):
        prefer(1.0)


def test_a_waitable_timing_is_kept_up_to_the_wait_rule_and_refused_past_it() -> None:
    short = {"provider_timeout_s": waitable(2.0)}
    assert changes_needed({"provider_timeout_s": 30.0}, short, fixed=True) == {}
    assert changes_needed({"provider_timeout_s": MAX_WAIT_S + 1}, short, fixed=True) == {
        "provider_timeout_s": 2.0
    }


def test_a_derived_wait_past_the_budget_is_unknown_naming_the_timing() -> None:
    require_wait("batch_deadline_s", WAIT_BUDGET_S, why="the deadline")
    with pytest.raises(Undecidable, match=r"timing\.batch_deadline_s") as info:
        require_wait("batch_deadline_s", 3600.0, why="the deadline")
    assert info.value.field == "timing.batch_deadline_s"


def test_a_waitable_timing_may_also_need_room_to_act() -> None:
    held = {"provider_timeout_s": waitable(2.0, at_least=2.0)}
    assert changes_needed({"provider_timeout_s": 30.0}, held, fixed=True) == {}
    assert changes_needed({"provider_timeout_s": 1.0}, held, fixed=True) == {"provider_timeout_s": 2.0}
    assert changes_needed({"provider_timeout_s": 90.0}, held, fixed=True) == {"provider_timeout_s": 2.0}
    assert changes_needed({"provider_timeout_s": 1.0}, held) == {"provider_timeout_s": 2.0}
