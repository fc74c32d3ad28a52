"""The one source of scenario metadata: ids, titles, tasks, severities, defects, checks, remediations.

Every reader takes it from here: the pytest marker (a scenario names only its ``id`` and what it
needs to run), the report, ``chaos-audit target check``, ``docs/scenarios.md`` and the detection
matrix. ``scenarios`` holds the catalogue's rows, ``checks`` each scenario's checks (core or
secondary, what each reads, the fix when it fails), ``faults`` the faults each may inject (in the
fault registry's names), ``remediation`` the fix of each scenario.
"""

from __future__ import annotations

from harness.catalog.faults import SCENARIO_FAULTS, faults_of
from harness.catalog.scenarios import (
    BY_ID,
    DEFAULT_SECONDS,
    DEFAULT_WEIGHT,
    ENTRIES,
    ORDER,
    RECOVERY_AUDIT,
    RELIABILITY_AUDIT,
    TASKS,
    WORKFLOW_AUDIT,
    CatalogEntry,
    Severity,
    entry,
    ids_catching,
    seed_order,
)

__all__ = [
    "BY_ID",
    "DEFAULT_SECONDS",
    "DEFAULT_WEIGHT",
    "ENTRIES",
    "ORDER",
    "RECOVERY_AUDIT",
    "RELIABILITY_AUDIT",
    "SCENARIO_FAULTS",
    "TASKS",
    "WORKFLOW_AUDIT",
    "CatalogEntry",
    "Severity",
    "entry",
    "faults_of",
    "ids_catching",
    "seed_order",
]
