"""The names of the impossible-state invariants (``invariants.sql``), free of any database import.

TEST-RR-S02 runs them, and the catalogue lists them as its checks: one tuple, so the two cannot drift.
"""

from __future__ import annotations

#: the seed's impossible states plus the catalogue's additions
IMPOSSIBLE_STATES = (
    "stuck_processing",
    "completed_without_output",
    "processing_with_dead_worker",
    "completed_batch_with_failed_items",
    "duplicate_outputs",
    "illegal_transitions",
)
#: what TEST-RR-S02 checks: the impossible states and the batch roll-up
S02_INVARIANTS = (*IMPOSSIBLE_STATES, "batch_rollup_mismatch")
