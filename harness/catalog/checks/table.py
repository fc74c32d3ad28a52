"""Every catalogue scenario's checks: core (answers its question) or secondary, reads, requires, fix.

Kept beside the catalogue rows so the marker, the report, ``target check``, ``docs/scenarios.md``
and the matrix read one source. The audit's own tests require every check a scenario records to be
named here, and every field a check reads to be declared here or in the scenario's run needs.
"""

from __future__ import annotations

from harness.catalog.checks import CheckSpec, core, secondary
from harness.catalog.checks.generic import FIXES
from harness.checkers.impossible import S02_INVARIANTS

_INVARIANT = "database.invariants."
#: the log moments TEST-RR-O02 rebuilds one flow from
_TRACE_EVENTS = tuple(
    f"logs.events.{m}"
    for m in ("claimed", "completed", "create_received", "enqueued", "provider_call", "stored")
)
_STORE = "database.observations."
_OUTPUT = "observe.item_fields.output"
_ERROR_FIELDS = tuple(f"observe.item_fields.error_{f}" for f in ("kind", "status", "message"))
_RR005_STATES = ("queued", "processing", "completed", "failed", "partial", "retrying", "cancelled", "timeout")
_OUTCOME_EVENTS = ("ownership_lost", "completed", "stored", "failed", "retrying")

TABLE: dict[str, tuple[CheckSpec, ...]] = {
    # -- Recovery & Resume (seed 000) ----------------------------------------------------------------
    "TEST-RR-001": (
        core("progress_at_least_5"),
        core("work_continues_after_disconnect"),
        core("retrigger_refused_or_same_batch"),
        core("batch_completed"),
        core("completed_items_readable", reads=(_OUTPUT,)),
        core("exactly_once"),
        secondary("progress_matches_db", reads=(_STORE + "items",)),
        secondary("one_batch", reads=(_STORE + "batches",)),
        secondary("duplicate_outputs", reads=(_INVARIANT + "duplicate_outputs",)),
        secondary("browser_shows_progress"),
    ),
    "TEST-RR-002": (
        core("*_same_id_or_409"),
        core("*_provider_calls_once"),
        core("exactly_once"),
        secondary("*_one_batch_in_db", reads=(_STORE + "batches",)),
        secondary("*_no_overlapping_processing", reads=(_STORE + "transitions", _STORE + "items")),
        secondary("duplicate_outputs", reads=(_INVARIANT + "duplicate_outputs",)),
    ),
    "TEST-RR-003": (
        core("client_gave_up"),
        core("job_completed_not_failed"),
        core("exactly_once"),
        secondary("result_identical_to_uninterrupted_run", reads=(_OUTPUT,)),
    ),
    "TEST-RR-004": (
        core("items_1_to_7_completed_before_kill"),
        core("resumed_from_item_8"),
        core("not_called_again"),
        core("batch_completed"),
        core("exactly_once"),
        secondary("same_idempotency_key"),
        secondary("duplicate_outputs", reads=(_INVARIANT + "duplicate_outputs",)),
    ),
    "TEST-RR-005": (
        *(core(f"state_{s}_reachable", requires=(f"observe.states.{s}",)) for s in _RR005_STATES),
        core(
            "long_processing_flagged",
            requires=("control.attention",),
            fix="""List items processing past the maximum duration on the admin attention list (with
            their batch), while they are still processing.""",
        ),
        secondary("state_*_identical_in_db", reads=(_STORE + "batches", _STORE + "items")),
        secondary("queued_without_output", reads=(_OUTPUT,)),
        secondary("retrying_records_previous_attempt", reads=_ERROR_FIELDS),
        secondary("cancel_accepted"),
        secondary("calls_only_for"),
        secondary("cancelled_keeps_completed_output", reads=(_OUTPUT,)),
        secondary("failed_items_record_error", reads=_ERROR_FIELDS),
        secondary("illegal_transitions", reads=(_INVARIANT + "illegal_transitions",)),
        secondary("batch_rollup_mismatch", reads=(_INVARIANT + "batch_rollup_mismatch",)),
        secondary(
            "completed_batch_with_failed_items", reads=(_INVARIANT + "completed_batch_with_failed_items",)
        ),
        secondary("stuck_processing", reads=(_INVARIANT + "stuck_processing",)),
    ),
    "TEST-RR-006": (
        secondary("worker_1_holds_item", reads=("observe.item_fields.holder",)),
        core("worker_1_detects_lost_ownership", reads=(_OUTPUT,)),
        core("batch_completed"),
        secondary(
            "ownership_lost_logged",
            reads=("logs.item_field", *(f"logs.events.{e}" for e in _OUTCOME_EVENTS)),
        ),
        secondary("one_result_from_owner", reads=(_STORE + "results",)),
        secondary("completed_twice", reads=(_INVARIANT + "completed_twice",)),
        secondary("duplicate_outputs", reads=(_INVARIANT + "duplicate_outputs",)),
        secondary("illegal_transitions", reads=(_INVARIANT + "illegal_transitions",)),
        secondary("same_idempotency_key"),
    ),
    "TEST-RR-007": (
        core("progress_never_backwards"),
        core("results_accessible", reads=(_OUTPUT,)),
        secondary("progress_matches_db_before", reads=(_STORE + "items",)),
        secondary("progress_matches_db_after_restart", reads=(_STORE + "items",)),
        secondary("progress_always_matches_db", reads=(_STORE + "items",)),
        secondary("final_progress_matches_db", reads=(_STORE + "items", _STORE + "batches")),
    ),
    "TEST-RR-008": (
        core("window_items_failed"),
        core("errors_specific", reads=_ERROR_FIELDS),
        core("summary_actionable", requires=("observe.batch_fields.summary",)),
        core("calls_only_for"),
        core("not_called_again"),
        core("successes_preserved", reads=(_OUTPUT,)),
        core("retry_completes_batch"),
        secondary("errors_logged_with_response", reads=("logs.item_field",)),
        secondary("exactly_once"),
        secondary("same_idempotency_key"),
    ),
    # -- Reliability & Resilience (seed 001) ---------------------------------------------------------
    "TEST-RR-T01": (
        core("call_ends_within_bound"),
        core("timeout_within_2x"),
        core(
            "item_not_stuck",
            fix="""Send an item whose provider call timed out through the retry policy (retrying, then
            failed after the last attempt): never leave it 'processing'.""",
        ),
        core(
            "error_classified_timeout",
            reads=(
                "observe.item_fields.error_kind",
                "observe.item_fields.error_status",
                "observe.item_fields.error_message",
            ),
            fix="""Classify an expired provider call as error kind 'timeout' on the item (its kind and
            message name the timeout), not as a generic or unknown error.""",
        ),
        secondary(
            "connection_released",
            fix="""Abort the connection when the read timeout expires, so its pool slot is released
            instead of waiting for an answer that never comes.""",
        ),
    ),
    "TEST-RR-T02": (
        core("job_deadline_fired", requires=("timing.batch_deadline_s",)),
        core(
            "trickle_ended_by_deadline",
            fix="""Check the batch deadline while reading the provider's response (between chunks) and
            abort the call once it passes: a per-read timeout never fires on a response that keeps
            trickling.""",
        ),
        core(
            "completed_items_preserved",
            fix="""When the deadline fires, stop only the unfinished items ('timeout') and keep the
            completed items completed, with their stored results.""",
        ),
        core("nothing_left_processing"),
        secondary("exactly_once"),
        secondary("completed_without_output", reads=(_INVARIANT + "completed_without_output",)),
        secondary(
            "alert_logged",
            reads=("logs.correlation_field", "logs.batch_field", "logs.level_field"),
            fix="""Log the deadline overrun as an alert: one error-level line carrying the batch's
            correlation id (and batch id), so an operator is told the job was stopped.""",
        ),
    ),
    "TEST-RR-P01": (
        core(
            "batch_partial_19_of_20",
            fix="""Roll the batch up from its items: some completed and some failed is 'partial' (19/20),
            distinct from 'failed' and 'completed'.""",
        ),
        core(
            "item_7_failed_with_specific_error",
            reads=(
                "observe.item_fields.error_kind",
                "observe.item_fields.error_status",
                "observe.item_fields.error_message",
            ),
            fix="""Record the provider's answer on the failed item: its error kind, HTTP status (422) and
            message, never a generic 'Unknown error'.""",
        ),
        core("items_8_to_20_processed"),
        core(
            "retry_item_7_accepted",
            fix="""Offer a retry of one failed item: accept it for an item in 'failed' and requeue only
            that item, with the same input and idempotency key.""",
        ),
        core("calls_only_for"),
        core(
            "batch_completed_after_retry",
            fix="""Recompute the batch from its items after a retried item completes: every item
            completed rolls the batch up to 'completed'.""",
        ),
        secondary("exactly_once"),
    ),
    "TEST-RR-P02": (
        core("items_1_to_6_done_at_outage"),
        core("breaker_opens_after_3_to_5", requires=("timing.breaker_cooldown_s",)),
        core("no_calls_during"),
        core("not_called_again"),
        core(
            "completes_without_intervention",
            fix="""Close the breaker on a successful probe and let the paused batch resume on its own: the
            items left queued during the outage are claimed again, with no human step.""",
        ),
        secondary(
            "paused_provider_unavailable",
            reads=("observe.batch_fields.paused", "observe.batch_fields.reason"),
            fix="""Show the pause to the user: while the breaker is open, report the batch as paused with
            the reason 'provider unavailable' (a paused flag or a status reason).""",
        ),
        secondary("exactly_once"),
    ),
    "TEST-RR-R01": (
        core("only_item_7_failed"),
        core("retry_accepted"),
        core("exactly_one_call"),
        core("batch_completed"),
        core("limit_probe_retry_*_one_call"),
        core(
            "retry_beyond_limit_refused",
            fix="""Bound user retries: count them on the item and refuse one past the limit (409 'retry
            limit reached') instead of calling the provider again.""",
        ),
        secondary("retry_count_plus_one", reads=("observe.item_fields.retry_count",)),
        secondary("same_parameters_and_key"),
        secondary("exactly_once"),
    ),
    "TEST-RR-R02": (
        core("five_items_failed"),
        core("retry_failed_accepted"),
        core("exactly_five_calls"),
        core("calls_only_for"),
        core("not_called_again"),
        core("completed_items_untouched"),
        core("batch_completed"),
        secondary("each_retry_count_plus_one", reads=("observe.item_fields.retry_count",)),
        secondary("same_idempotency_key"),
    ),
    "TEST-RR-R03": (
        core("item_7_failed"),
        core("first_retry_accepted"),
        core("second_retry_refused"),
        core("one_provider_call"),
        core("batch_completed"),
        secondary("duplicate_outputs", reads=(_INVARIANT + "duplicate_outputs",)),
    ),
    "TEST-RR-RE01": (
        core("lease_expired_item_taken_over"),
        core("batch_completed"),
        core("exactly_once"),
        core("same_idempotency_key"),
        core("not_called_again"),
        core("no_human_step"),
        secondary("duplicate_outputs", reads=(_INVARIANT + "duplicate_outputs",)),
    ),
    "TEST-RR-RE02": (
        core("*.kill_landed_mid_request"),
        core("*.retry_gives_one_batch"),
        core("exactly_once"),
        core("two_batches_ten_items_completed"),
        secondary("*.health_shows_restart", reads=("observe.health", "observe.health_fields.boot_id")),
    ),
    "TEST-RR-SL01": (
        core("pagination_stopped_within_harness_bound"),
        core("pages_within_target_bound"),
        core("read_items_processed"),
        core("no_listing_after_stop"),
        secondary("state_says_truncated", reads=("observe.batch_fields.truncated",)),
        secondary("truncation_logged_as_warning", reads=("logs.events.truncated", "logs.correlation_field")),
    ),
    "TEST-RR-SL02": (
        core(
            "item_5_failed",
            reads=(
                "observe.item_fields.error_kind",
                "observe.item_fields.error_message",
                "observe.item_fields.error_status",
            ),
        ),
        core("other_items_completed"),
        core("items_after_5_called"),
        core("loop_stopped_early"),
        core("stopped_only_past_half"),
        core("skipped_items_closed"),
        secondary("item_5_logged", reads=("logs.item_field",)),
        secondary("batch_partial", requires=("observe.states.partial",)),
    ),
    "TEST-RR-Q01": (
        core("jobs_survive_restart"),
        core("every_job_completes"),
        secondary("batch_rolled_up", fix=FIXES["batch_rollup_mismatch"]),
    ),
    "TEST-RR-Q02": (
        core("redelivered"),
        core("job_completed_once"),
        core("poison_dead_lettered", requires=("observe.states.dead", "timing.max_deliveries")),
        core("dead_after_max_deliveries", requires=("observe.states.dead", "timing.max_deliveries")),
        core("others_completed", requires=("observe.states.dead", "timing.max_deliveries")),
        secondary("visibility_shorter_than_job_timeout", reads=("timing.batch_deadline_s",)),
        secondary("provider_answered_before_crash"),
        secondary("same_idempotency_key"),
        secondary("duplicate_outputs", reads=(_INVARIANT + "duplicate_outputs",)),
        secondary("completed_twice", reads=(_INVARIANT + "completed_twice",)),
        secondary("deliveries_over_limit", reads=(_INVARIANT + "deliveries_over_limit",)),
    ),
    "TEST-RR-Q03": (
        core("all_accepted"),
        core("added_while_running"),
        core("queue_drained"),
        core("priority_before_bulk"),
        # read over the items call of a batch of its own; the metrics add to it where the target has them
        core("one_item_per_worker", reads=("observe.metrics?", "observe.metrics_fields.processing?")),
        core("memory_bounded"),
        secondary("queue_depth_observable", reads=("observe.metrics", "observe.metrics_fields.queue_depth")),
        secondary(
            "metrics_show_drained",
            reads=(
                "observe.metrics",
                "observe.metrics_fields.batches_completed",
                "observe.metrics_fields.processing",
                "observe.metrics_fields.queue_depth",
            ),
        ),
    ),
    "TEST-RR-S01": (
        core(
            "accurate: server restart during request",
            reads=("links.db", "logs.correlation_field", "logs.events.create_received"),
        ),
        core(
            "accurate: worker crash during processing",
            reads=("observe.item_fields.holder", "observe.item_fields.output"),
        ),
        core(
            "accurate: API call timeout",
            reads=(
                "observe.item_fields.error_kind",
                "observe.item_fields.error_message",
                "observe.item_fields.error_status",
            ),
        ),
        core("accurate: partial batch completion", requires=("observe.states.partial",)),
        core(
            "accurate: user cancellation during processing",
            reads=("control.cancel", "observe.item_fields.output"),
            requires=("observe.states.cancelled",),
        ),
        core(
            "accurate: queue message lost (stuck detection)",
            reads=("logs.item_field", "observe.item_fields.holder", "observe.item_fields.output"),
        ),
    ),
    "TEST-RR-S02": tuple(core(name, reads=(_INVARIANT + name,)) for name in S02_INVARIANTS),
    "TEST-RR-O01": (
        core("root cause found: *", reads=("logs.item_field",), requires=("logs.correlation_field",)),
    ),
    "TEST-RR-O02": (
        core(
            "every_step_traced",
            reads=_TRACE_EVENTS,
            requires=("logs.correlation_field",),
        ),
        core("workflow_completed"),
        secondary(
            "provider_call_has_status_and_duration",
            reads=_TRACE_EVENTS,
            requires=("logs.correlation_field",),
        ),
        secondary("id_sent_to_provider"),
    ),
    # -- Workflow recovery (seeds 002-004) -----------------------------------------------------------
    "TEST-WR-001": (
        core("retried_up_to_the_limit"),
        core("workflow_completed"),
        core("earlier_step_not_repeated"),
        core("each_retry_logged_with_correlation_id", requires=("logs.correlation_field",)),
        secondary("same_idempotency_key"),
    ),
    "TEST-WR-002": (
        core("failed_after_retry_limit"),
        core("failed_step_and_reason"),
        core("owner_notified_of_step_failure"),
        core("required_step_not_skippable"),
        core("manual_retry_completes"),
        core("manual_retry_resumes_at_the_step"),
        core("owner_notified_of_optional_failure"),
        core("optional_step_skipped"),
    ),
    "TEST-WR-003": (
        core("unauthenticated_recover_refused"),
        core("non_owner_recover_forbidden"),
        core("refused_recover_changes_nothing"),
        core("*.recover_accepted"),
        core("*.completed"),
        core("*.completed_steps_not_rerun"),
        core("*.context_rebuilt_from_stored_results"),
        core("recover_only_from_failed"),
    ),
    "TEST-WR-004": (
        core("recovered_automatically"),
        core("completed_steps_not_rerun"),
        core("owner_notified_of_recovery"),
        secondary("same_idempotency_key"),
    ),
    "TEST-WR-005": (
        core("recovery_stops_at_limit"),
        core("owner_notified_recovery_failed"),
        core("listed_for_attention_with_reason"),
    ),
    "TEST-WR-006": (
        core("inactive_run_detected"),
        core("interruption_has_reason"),
        core("resume_accepted"),
        core("resume.*"),
        core("stored_results_kept"),
    ),
    "TEST-WR-007": (
        core("step_reassigned"),
        core("one_commit_by_the_new_holder"),
        core("woken_worker_detects_lost_ownership", reads=("logs.correlation_field",)),
        core("result_not_overwritten"),
        secondary("same_idempotency_key"),
    ),
    "TEST-WR-008": (
        core("A_listed_with_reason"),
        core("B_listed_with_reason"),
        core("healthy_workflow_not_listed"),
        core("attention_admin_only"),
    ),
}
