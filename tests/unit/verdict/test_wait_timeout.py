"""A scenario's wait that runs out is recorded as a named failed check with its evidence."""

from __future__ import annotations

import pytest

from harness.history import History
from harness.scenario import AuditMeta, ScenarioRun
from harness.verdict import Verdict, decide
from tests.unit.faults.test_fault_registry import RecordingStack


def test_a_wait_that_times_out_is_a_named_failed_check_with_its_evidence() -> None:
    """A job that never settles is a finding: the report names what was awaited and for how long,
    not "no evidence recorded" (TEST-RR-S02 once failed that way with an empty check list)."""
    run = ScenarioRun(AuditMeta(id="TEST-RR-S02"), RecordingStack(), History(), seed=1)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match=r"timed out after 0\.1s waiting for: batch b1 to settle"):
        run.wait_for("batch b1 to settle", lambda: None, timeout=0.1)
    outcome = decide(run.checks, run.spec)
    assert outcome.verdict is Verdict.FAIL and outcome.failed == ("reached_in_time",)
    assert "batch b1 to settle" in outcome.reason
    assert run.evidence_items["waited_for"]["value"] == "batch b1 to settle"
    assert run.wait_for("an answer", lambda: 42, timeout=0.1) == 42  # met at once: nothing recorded
    assert [c.name for c in run.checks] == ["reached_in_time"]
