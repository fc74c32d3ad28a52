"""The audit catalogue as data: every scenario id with its audit, task, title and severity.

The report needs this independently of which scenarios ran: the per-task table lists every task of
the seeds' template, the score rule needs each id's severity as the catalogue fixes it (a scenario
module cannot downgrade a CRITICAL finding), and ``--only`` is validated against these ids before
anything starts. Defects link each id to the reference target's switch that proves it can fail.

It also says how each scenario shares the machine in a parallel run (``chaos-audit run --jobs``,
:mod:`harness.run.schedule`): ``alone`` scenarios run with nothing beside them, ``weight`` (the
share of one CPU core a scenario keeps busy) sets how many run side by side by default
(:mod:`harness.run.jobs`), and ``seconds`` orders them, the longest first. The figures were
measured on the reference target, one scenario at a time on a 2-core machine; they steer the
schedule, never a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """The seeds' Pass Criteria Summary levels; ``rank`` orders them for the CI gate."""

    CRITICAL = "CRITICAL"  #: must pass for production
    HIGH = "HIGH"  #: should pass for reliability
    MEDIUM = "MEDIUM"  #: recommended for operational maturity

    @property
    def rank(self) -> int:
        return {"CRITICAL": 3, "HIGH": 2, "MEDIUM": 1}[self.value]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """A severity from a marker; anything unrecognised counts as HIGH (never silently MEDIUM)."""
        try:
            return cls(text.strip().upper())
        except ValueError:
            return cls.HIGH


RECOVERY_AUDIT = "Recovery & Resume Audit"
RELIABILITY_AUDIT = "Reliability & Resilience Audit"
#: docs/scenarios.md's "second wave": the recovery promises of the workflow designs in seeds 002-004
WORKFLOW_AUDIT = "Workflow Recovery Audit"

#: the tasks in the order of the seeds' templates (seed 000's audit first, then seed 001's tasks 3-10),
#: then the workflow recovery promises of seeds 002-004 as task 11
TASKS: tuple[str, ...] = (
    "Recovery & Resume",
    "3. Timeouts",
    "4. Partial completion",
    "5. Retry safety",
    "6. Resume",
    "7. Loop safeguards",
    "8. Queue resilience",
    "9. State accuracy",
    "10. Observability",
    "11. Workflow recovery",
)


#: a scenario outside the catalogue (or not measured) counts as this much of a core, this long
DEFAULT_WEIGHT = 0.6
DEFAULT_SECONDS = 4.0
#: scenarios that run alone: TEST-RR-Q03 floods the API with 1,200 jobs from locust and measures
#: how the queue drains (it keeps both cores of a 2-core machine busy for ~15 s)
ALONE = frozenset({"TEST-RR-Q03"})
#: id -> (weight, seconds), measured one scenario at a time on the reference target (CPU time of the
#: whole run less the run's own start-up, over the scenario's duration)
_COST: dict[str, tuple[float, float]] = {
    "TEST-RR-001": (0.9, 2),
    "TEST-RR-002": (1.1, 1),
    "TEST-RR-003": (0.6, 2),
    "TEST-RR-004": (0.8, 2),
    "TEST-RR-005": (0.4, 6),
    "TEST-RR-006": (0.6, 2),
    "TEST-RR-007": (0.6, 3),
    "TEST-RR-008": (0.5, 2),
    "TEST-RR-T01": (0.3, 5),
    "TEST-RR-T02": (0.3, 4),
    "TEST-RR-P01": (0.9, 1),
    "TEST-RR-P02": (0.4, 3),
    "TEST-RR-R01": (0.6, 2),
    "TEST-RR-R02": (0.8, 1),
    "TEST-RR-R03": (0.8, 2),
    "TEST-RR-RE01": (0.5, 2),
    "TEST-RR-RE02": (0.6, 4),
    "TEST-RR-SL01": (0.7, 2),
    "TEST-RR-SL02": (0.8, 2),
    "TEST-RR-Q01": (0.6, 4),
    "TEST-RR-Q02": (0.6, 7),
    "TEST-RR-Q03": (1.2, 12),
    "TEST-RR-S01": (0.4, 9),
    "TEST-RR-S02": (0.4, 10),
    "TEST-RR-O01": (0.4, 7),
    "TEST-RR-O02": (1.1, 2),
    "TEST-WR-001": (1.1, 2),
    "TEST-WR-002": (1.0, 2),
    "TEST-WR-003": (0.6, 3),
    "TEST-WR-004": (0.5, 6),
    "TEST-WR-005": (0.6, 9),
    "TEST-WR-006": (0.4, 8),
    "TEST-WR-007": (0.7, 3),
    "TEST-WR-008": (0.8, 4),
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class CatalogEntry:
    """One row of docs/scenarios.md: ``short`` is the seed template's Description column."""

    id: str
    audit: str
    task: str
    title: str
    short: str
    severity: Severity
    defects: tuple[str, ...]
    #: runs with nothing beside it: a flood or a measurement that needs the machine to itself (and
    #: would starve the scenarios next to it, whose own deadlines are real seconds)
    alone: bool = False
    #: the share of one CPU core it keeps busy while it runs (its services, the sampler, the client)
    weight: float = DEFAULT_WEIGHT
    #: how long it usually takes on the reference target (seconds): the longest start first
    seconds: float = DEFAULT_SECONDS


def _e(id_: str, task: str, title: str, short: str, severity: str, *defects: str) -> CatalogEntry:
    audit = {TASKS[0]: RECOVERY_AUDIT, TASKS[-1]: WORKFLOW_AUDIT}.get(task, RELIABILITY_AUDIT)
    weight, seconds = _COST.get(id_, (DEFAULT_WEIGHT, DEFAULT_SECONDS))
    return CatalogEntry(
        id=id_, audit=audit, task=task, title=title, short=short, severity=Severity(severity),
        defects=defects, alone=id_ in ALONE, weight=weight, seconds=seconds,
    )  # fmt: skip


_R, _T, _P, _Y, _U, _L, _Q, _S, _O, _W = TASKS
ENTRIES: tuple[CatalogEntry, ...] = (
    _e("TEST-RR-001", _R, "Refresh midway through workflow",
       "Refresh mid-workflow", "HIGH", "cancel_on_disconnect"),
    _e("TEST-RR-002", _R, "Trigger workflow twice (double submit)",
       "Double submit", "CRITICAL", "no_idempotency"),
    _e("TEST-RR-003", _R, "Force timeout after server-side success", "Timeout after success", "HIGH",
       "fail_on_client_disconnect"),
    _e("TEST-RR-004", _R, "Interrupt batch at item 7/20, verify resume from item 8",
       "Batch checkpoint", "HIGH",
       "batch_level_checkpoint"),
    _e("TEST-RR-005", _R, "State accuracy after various interruptions", "State accuracy", "HIGH",
       "partial_reported_as_failed", "no_timeout_state"),
    _e("TEST-RR-006", _R, "Concurrent resume after network partition",
       "Concurrent resume", "CRITICAL", "no_fencing"),
    _e("TEST-RR-007", _R, "Progress persistence across sessions", "Progress persistence", "HIGH",
       "progress_in_memory"),
    _e("TEST-RR-008", _R, "Graceful degradation on external service failure", "External failure", "HIGH",
       "generic_errors", "retry_reprocesses_all"),
    _e("TEST-RR-T01", _T, "External API call timeout", "API timeout", "CRITICAL", "no_provider_timeout"),
    _e("TEST-RR-T02", _T, "Job-level timeout", "Job timeout", "CRITICAL", "no_job_timeout"),
    _e("TEST-RR-P01", _P, "Batch fails at item 7 of 20",
       "Batch partial failure", "HIGH", "no_item_isolation"),
    _e("TEST-RR-P02", _P, "Batch fails at item 7 due to systemic issue", "Systemic failure", "HIGH",
       "no_circuit_breaker"),
    _e("TEST-RR-R01", _Y, "Retry single failed item", "Retry single", "HIGH", "retry_reprocesses_all"),
    _e("TEST-RR-R02", _Y, "Retry entire batch (retry all failed)", "Retry all failed", "HIGH",
       "retry_reprocesses_all"),
    _e("TEST-RR-R03", _Y, "Retry idempotency (two concurrent retries)", "Retry idempotency", "HIGH",
       "concurrent_retry"),
    _e("TEST-RR-RE01", _U, "Worker crash mid-batch, recovered without a human", "Worker crash", "HIGH",
       "no_lease_expiry"),
    _e("TEST-RR-RE02", _U, "Server restart mid-request", "Server restart", "HIGH", "no_idempotency"),
    _e("TEST-RR-SL01", _L, "Loop does not run forever (never-ending pagination)", "Loop bounds", "HIGH",
       "unbounded_pagination"),
    _e("TEST-RR-SL02", _L, "Per-item error isolation", "Error isolation", "HIGH", "no_item_isolation"),
    _e("TEST-RR-Q01", _Q, "Queue message loss (store restart)",
       "Queue durability", "CRITICAL", "in_memory_queue"),
    _e("TEST-RR-Q02", _Q, "Worker failure to acknowledge; poison item", "Redelivery / DLQ", "HIGH",
       "no_dead_letter"),
    _e("TEST-RR-Q03", _Q, "Queue backpressure and priority", "Backpressure", "MEDIUM", "unbounded_prefetch",
       "no_priority"),
    _e("TEST-RR-S01", _S, "State after each failure mode",
       "State accuracy", "HIGH", "wrong_state_after_crash"),
    _e("TEST-RR-S02", _S, 'No "impossible" states after failure', "Impossible states", "HIGH",
       "completed_with_failed_items"),
    _e("TEST-RR-O01", _O, "Failure diagnosis from logs", "Diagnosis", "MEDIUM", "generic_errors"),
    _e("TEST-RR-O02", _O, "End-to-end trace completeness", "Trace completeness", "HIGH", "no_correlation_id"),
    # Seeds 002-004 carry no test ids: TEST-WR-NNN ("Workflow Recovery"), in the
    # order of the promises in the seeds, like seed 000's TEST-RR-NNN. Nor severities: CRITICAL where a
    # failure breaks safety as seeds 000/001 rank it (authorization of recover; a double commit, like
    # TEST-RR-006), MEDIUM for the operator view (like TEST-RR-O01), HIGH for recovery behaviour.
    _e("TEST-WR-001", _W, "Transient step failure retried automatically, each retry logged",
       "Step retry", "HIGH", "no_step_retry"),
    _e("TEST-WR-002", _W, "Exhausted retries: Failed, user notified, manual retry or skip",
       "Failed + notification", "HIGH", "silent_failure"),
    _e("TEST-WR-003", _W, "POST recover resumes from the last checkpoint, owner or admin only",
       "Recover endpoint", "CRITICAL", "recover_without_owner_check", "restart_from_first_step"),
    _e("TEST-WR-004", _W, "Server restart mid-workflow: incomplete workflow detected, recovered, "
       "user notified",
       "Start-up recovery", "HIGH", "no_startup_recovery"),
    _e("TEST-WR-005", _W, "Recovery attempts are bounded: a workflow that crashes the server does not "
       "loop",
       "Recovery loop bound", "HIGH", "recovery_loop"),
    _e("TEST-WR-006", _W, "Interrupted run detected by inactivity, resumed from stored step results",
       "Interrupted-run resume", "HIGH", "no_inactivity_detection", "restart_from_first_step",
       "context_from_memory"),
    _e("TEST-WR-007", _W, "Paused (SIGSTOP) worker: step reassigned after the grace period, no second "
       "commit on wake",
       "Paused worker", "CRITICAL", "late_commit_accepted"),
    _e("TEST-WR-008", _W, "Admin list of workflows needing attention, each with its failure reason",
       "Attention list", "MEDIUM", "attention_without_reason"),
)  # fmt: skip

BY_ID: dict[str, CatalogEntry] = {e.id: e for e in ENTRIES}
#: id -> its position in ENTRIES, which lists the scenarios as the seeds do
ORDER: dict[str, int] = {e.id: i for i, e in enumerate(ENTRIES)}


def entry(scenario_id: str) -> CatalogEntry | None:
    """The catalogue row of an id (None for a scenario outside the catalogue, e.g. a second-wave one)."""
    return BY_ID.get(scenario_id)


def seed_order(scenario_id: str) -> int:
    """Where an id stands in the seeds' listing (RR-001..008, then T01...O02, then WR-*); others last."""
    return ORDER.get(scenario_id, len(ORDER))


def ids_catching(defect: str) -> list[str]:
    """The catalogue ids whose scenario must fail against ``defect``."""
    return [e.id for e in ENTRIES if defect in e.defects]
