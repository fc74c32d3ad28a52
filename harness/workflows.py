"""Workload building blocks of the workflow-recovery scenarios (``TEST-WR-*``, seeds 002-004).

Everything goes through the target's ``workflow:`` contract (``WorkflowClient``) and the provider's
ledger: a workflow's steps are told apart in the ledger by the item id each step's call carries
(``workflow.provider_item``). Scenarios act at exact points: the first provider call of a new
workflow is held at a barrier while its later steps' calls are scripted, and a step is interrupted
while its own call is held.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from harness.errors import CapabilityMissing
from harness.faults.provider.client import Barrier
from harness.held import cut_short
from harness.scenario import ScenarioRun
from harness.target.workflow_client import WorkflowClient, WorkflowView
from harness.target.workflow_model import WorkflowContract
from harness.workload import poll_until, work_calls

#: workflow states after which nothing happens without a user action
SETTLED = frozenset({"completed", "failed", "interrupted"})


def workflows(audit: ScenarioRun) -> WorkflowClient:
    """The target's workflow client (``CapabilityMissing("workflow")`` makes the scenario unknown)."""
    return WorkflowClient.of(audit.client())


def contract(audit: ScenarioRun) -> WorkflowContract:
    """The target's workflow contract; ``CapabilityMissing`` (unknown) before anything is started."""
    wf = audit.stack.target.workflow
    if wf is None:
        raise CapabilityMissing("workflow")
    return wf


def bound(audit: ScenarioRun, *, extra: float = 0.0) -> float:
    """A generous bound for a workflow to settle: worker start, step attempts, leases, backoff."""
    t, w = audit.stack.timing, contract(audit).timing
    return float(10.0 + w.step_attempts * t["provider_timeout_s"] + 3 * t["lease_s"] + extra)


def wait_state(
    audit: ScenarioRun, wfc: WorkflowClient, wid: str, *states: str, timeout: float
) -> WorkflowView:
    """Wait until the workflow is in one of ``states`` (canonical); fail the scenario if never."""
    view: WorkflowView = audit.wait_for(
        f"workflow {wid} to be {' or '.join(states)}",
        lambda: (v := wfc.get(wid, who="admin")).state in states and v,
        timeout=timeout,
        interval=0.05,
    )
    return view


def step_calls(
    audit: ScenarioRun, wfc: WorkflowClient, wid: str, step: str, *, since: float = 0.0
) -> list[dict[str, Any]]:
    """The provider calls one step of one workflow made (arrived after ``since``)."""
    item = wfc.provider_item(wid, step)
    return [e for e in work_calls(audit) if e["item_id"] == item and e["arrived_at"] >= since]


def start_scripted(
    audit: ScenarioRun,
    wfc: WorkflowClient,
    script: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    timeout: float,
    after: Sequence[str] = (),
) -> tuple[str, dict[str, list[str]]]:
    """Start a workflow with provider rules for its steps' calls, scripted before any can happen.

    The workflow's first provider call is held at a barrier while the rules are added (keyword
    arguments of ``add_rule`` per step), then released. Returns the workflow id and the rule ids.
    That call is found by its place among the provider's calls, so the workflows started before it
    (``after``) must be done calling first: they are waited for until settled.
    """
    for earlier in after:
        wait_state(audit, wfc, earlier, *SETTLED, timeout=timeout)
    nth = len(work_calls(audit)) + 1
    with audit.provider.barrier(nth=nth) as held:
        wid = wfc.start_id()
        held.wait(timeout=timeout)
        rules = {
            step: [audit.provider.add_rule(wfc.provider_item(wid, step), **r) for r in rules]
            for step, rules in script.items()
        }
    return wid, rules


@contextlib.contextmanager
def call_step_held(
    audit: ScenarioRun, wfc: WorkflowClient, *, attempt: int = 1, timeout: float, wid: str | None = None
) -> Iterator[tuple[str, Barrier]]:
    """A workflow (a new one, or ``wid``) whose call step's ``attempt``-th call is held now."""
    call = contract(audit).steps.call
    if wid is None:
        wid, held = _new_workflow_held(audit, wfc, call, attempt=attempt, timeout=timeout)
    else:
        held = audit.provider.barrier(wfc.provider_item(wid, call), attempt=attempt)
    with held:
        held.wait(timeout=timeout)
        yield wid, held


#: new workflows started at most when the target's own provider timeout lets one run past its call step
TRIES = 3


def _new_workflow_held(
    audit: ScenarioRun, wfc: WorkflowClient, call: str, *, attempt: int, timeout: float
) -> tuple[str, Barrier]:
    """A new workflow, with a barrier on its call step's ``attempt``-th call set before that call.

    Its first provider call is held while the barrier is set. That takes milliseconds, but on a
    stalled runner a target's own provider timeout (a stack keeps its own) can end the hold first:
    the target retries the first call at once and may run past the call step. That workflow is then
    let finish and another one is started, ``TRIES`` times at most, then the scenario is unknown.
    """
    for _ in range(TRIES):
        nth = len(work_calls(audit)) + 1
        with audit.provider.barrier(nth=nth) as first:
            wid = wfc.start_id()
            first.wait(timeout=timeout)
            item = wfc.provider_item(wid, call)
            held = audit.provider.barrier(item, attempt=attempt)
        if not any(e["item_id"] == item and e.get("attempt") == attempt and e.get("barrier_id") != held.id
                   for e in work_calls(audit)):  # fmt: skip
            return wid, held
        held.release()
        poll_until(functools.partial(_settled, wfc, wid), timeout=timeout)  # then it calls no more
    cut_short(audit, f"the harness could hold a workflow's {call} step's call ({TRIES} ran past it)")


def _settled(wfc: WorkflowClient, wid: str) -> bool:
    return wfc.get(wid, who="admin").state in SETTLED


def kinds(
    history: Sequence[Mapping[str, Any]], kind: str, step: str | None = None
) -> list[Mapping[str, Any]]:
    """History entries of one kind (and step)."""
    return [e for e in history if e["kind"] == kind and (step is None or e["step"] == step)]
