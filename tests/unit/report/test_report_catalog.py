"""The catalogue and its remediation texts cover every audit id, and docs/scenarios.md shows its severities."""

from __future__ import annotations

import re
from pathlib import Path

from harness import catalog
from harness.catalog import Severity
from harness.catalog.remediation import GENERIC, REMEDIATIONS, remediation_for

SCENARIOS_DOC = Path(__file__).resolve().parents[3] / "docs" / "scenarios.md"


def test_the_catalogue_has_the_26_ids_of_the_two_audits_and_the_8_workflow_ids() -> None:
    assert len(catalog.ENTRIES) == 34
    assert len(catalog.BY_ID) == 34
    assert {e.task for e in catalog.ENTRIES} == set(catalog.TASKS)
    workflow = [e for e in catalog.ENTRIES if e.audit == catalog.WORKFLOW_AUDIT]
    assert [e.id for e in workflow] == [f"TEST-WR-00{n}" for n in range(1, 9)]
    assert {e.task for e in workflow} == {catalog.TASKS[-1]}  # after seed 001's tasks


def test_the_scenarios_doc_lists_every_id_with_the_catalogues_severity() -> None:
    rows = re.findall(
        r"^\| (TEST-(?:RR|WR)-[A-Z0-9]+) \| (CRITICAL|HIGH|MEDIUM) \|", SCENARIOS_DOC.read_text(), re.M
    )
    assert dict(rows) == {e.id: e.severity.value for e in catalog.ENTRIES}


def test_every_id_has_its_own_specific_remediation() -> None:
    assert set(REMEDIATIONS) == set(catalog.BY_ID)
    texts = [remediation_for(i).text for i in catalog.BY_ID]
    assert len(set(texts)) == len(texts)
    assert all(
        len(t) > 120 and remediation_for(i).effort in ("S", "M", "L")
        for i, t in zip(catalog.BY_ID, texts, strict=True)
    )
    assert "fencing token" in remediation_for("TEST-RR-006").text
    assert remediation_for("TEST-NOT-IN-CATALOG") is GENERIC


def test_defects_point_back_to_the_scenarios_that_catch_them() -> None:
    assert catalog.ids_catching("no_fencing") == ["TEST-RR-006"]
    assert catalog.ids_catching("retry_reprocesses_all") == ["TEST-RR-008", "TEST-RR-R01", "TEST-RR-R02"]
    assert catalog.ids_catching("no_such_defect") == []


def test_severity_ranks_and_lenient_parsing() -> None:
    assert Severity.CRITICAL.rank > Severity.HIGH.rank > Severity.MEDIUM.rank
    assert Severity.parse(" critical ") is Severity.CRITICAL
    assert Severity.parse("blocker") is Severity.HIGH  # unknown never silently becomes MEDIUM
