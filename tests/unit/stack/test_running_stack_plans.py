"""What scenarios derive from a running stack's own timings: their plan, window and waits.

The scenarios run against real stacks elsewhere (``tests/integration/external``, the detection
matrix); here each derivation is checked on the numbers alone, including the stacks it must refuse.
"""

from __future__ import annotations

import pytest

from harness.errors import Undecidable
from harness.workload import longest_failure_run
from scenarios.test_recovery_resume_server import RR008_WINDOW, rr008_window
from scenarios.test_state import hung_call_end
from scenarios.test_timeouts import t01_plan

STAGING = {"provider_timeout_s": 30.0, "batch_deadline_s": 30.0, "max_attempts": 3, "breaker_threshold": 3}


def _call(at: float, *, status: int | None = 200, outcome: str = "ok") -> dict[str, object]:
    return {"arrived_at": at, "answered_at": at + 0.01, "status": status, "outcome": outcome}


def test_the_longest_failure_run_counts_provider_failures_not_rejected_inputs() -> None:
    calls = [_call(1, status=500), _call(2, status=500), _call(3), _call(4, status=500),
             _call(5, status=None, outcome="malformed"), _call(6, status=422, outcome="error")]  # fmt: skip
    assert longest_failure_run(calls) == 2
    assert longest_failure_run(calls, since=3.5) == 2
    assert longest_failure_run([*calls[:2], _call(2.5, status=503)]) == 3
    assert longest_failure_run([{**_call(1, status=500), "answered_at": None}]) == 0  # still in flight


def test_rr008_keeps_the_seeds_window_under_a_high_threshold_and_shrinks_it_under_a_low_one() -> None:
    assert rr008_window({"breaker_threshold": 10, "max_attempts": 3}) == RR008_WINDOW
    assert rr008_window({"breaker_threshold": 7, "max_attempts": 3}) == (6, 7)
    assert rr008_window(STAGING) == (6,)
    assert rr008_window({"breaker_threshold": 2, "max_attempts": 5}) == (6,)


def test_a_hung_call_ends_by_its_attempts_or_by_a_shorter_deadline() -> None:
    harness_set = {"provider_timeout_s": 2.0, "batch_deadline_s": 30.0, "max_attempts": 2}
    assert hung_call_end(harness_set, has_deadline=True) == ("attempts", 6.0)
    assert hung_call_end(STAGING, has_deadline=True) == ("deadline", 30.0)
    assert hung_call_end(STAGING, has_deadline=False)[0] == "attempts"
    with pytest.raises(Undecidable) as info:  # 10 attempts of 60 s: past the wait budget
        hung_call_end({**STAGING, "provider_timeout_s": 60.0, "max_attempts": 10}, has_deadline=False)
    assert info.value.field == "timing.provider_timeout_s"


def test_t01_reads_the_timeout_before_a_deadline_only_when_one_call_can_time_out_first() -> None:
    assert t01_plan({**STAGING, "batch_deadline_s": 200.0}, has_deadline=True) == "attempts"
    assert t01_plan({**STAGING, "batch_deadline_s": 60.0}, has_deadline=True) == "first_attempt"
    assert t01_plan(STAGING, has_deadline=True) == "deadline"
    assert t01_plan(STAGING, has_deadline=False) == "attempts"
    with pytest.raises(Undecidable):
        t01_plan({**STAGING, "provider_timeout_s": 120.0}, has_deadline=False)
