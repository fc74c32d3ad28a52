"""End to end: the scenarios that hold a provider call decide on a stack with a 1 s provider timeout.

A running stack keeps its own settings (the compose stack audited as staging has a 1 s provider
timeout). TEST-RR-001, -003, -006, -007 and TEST-WR-007 used to ask for a longer one and were
``unknown`` there; they now act inside the stack's own timeout. On the independent stack started
with ``provider_timeout_s: 1.0`` (``independent.py``, command handles, nothing the harness can
change), each passes on the correct target and fails with its catalogue defect, the stack's
services restarted with ``REFTARGET_DEFECTS=<name>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from independent import TIMING, IndependentStack, stacks_up, sweep

from harness.catalog.scenarios import BY_ID

pytestmark = pytest.mark.slow

#: the scenario -> the defect it must catch (its catalogue entry names it)
HELD_CALL = {
    "TEST-RR-001": "cancel_on_disconnect",
    "TEST-RR-003": "fail_on_client_disconnect",
    "TEST-RR-006": "no_fencing",
    "TEST-RR-007": "progress_in_memory",
    "TEST-WR-007": "late_commit_accepted",
}
SHORT_TIMEOUT = {**TIMING, "provider_timeout_s": 1.0}
#: the sweep's order: the longest audit first (RR-007 waits out its bound, ~20 s), so the other four
#: run on the second stack meanwhile instead of after it
SWEEP_ORDER = ("TEST-RR-007", *(sid for sid in HELD_CALL if sid != "TEST-RR-007"))


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndependentStack]:
    """One stack for the module: the correct audit and the defect sweep restart its services."""
    stack = IndependentStack(tmp_path_factory.mktemp("short-timeout"), timing=SHORT_TIMEOUT)
    try:
        stack.up()
        yield stack
    finally:
        stack.close()


def test_held_call_scenarios_pass_on_the_correct_stack(short_stack: IndependentStack, tmp_path: Path) -> None:
    if short_stack.defects:  # the defect sweep ran first
        short_stack.restart_app(defects="")
    verdicts = short_stack.audit(",".join(HELD_CALL), tmp_path / "correct")
    assert verdicts == dict.fromkeys(HELD_CALL, "pass"), verdicts


def test_held_call_scenarios_catch_their_defects(
    short_stack: IndependentStack, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The sweep runs on two stacks, each restarted into one defect at a time: the defects that hold
    a scenario to its bound (RR-007's progress never settles) overlap with the others' audits."""
    assert all(defect in BY_ID[sid].defects for sid, defect in HELD_CALL.items())

    def audit_with(sid: str, defect: str) -> Callable[[IndependentStack], dict[str, str]]:
        def job(stack: IndependentStack) -> dict[str, str]:
            stack.restart_app(defects=defect)
            return stack.audit(sid, tmp_path / defect)

        return job

    second = IndependentStack(tmp_path_factory.mktemp("short-timeout-2"), timing=SHORT_TIMEOUT)
    with stacks_up(second):
        caught = sweep([short_stack, second], [audit_with(sid, HELD_CALL[sid]) for sid in SWEEP_ORDER])
    for sid, verdicts in zip(SWEEP_ORDER, caught, strict=True):
        assert verdicts == {sid: "fail"}, (HELD_CALL[sid], verdicts)
