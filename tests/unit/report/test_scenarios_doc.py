"""docs/scenarios.md is generated from the catalogue: it must not go stale."""

from __future__ import annotations

from pathlib import Path

from harness.report.scenarios_doc import render

DOC = Path(__file__).resolve().parents[3] / "docs" / "scenarios.md"


def test_docs_scenarios_md_is_up_to_date() -> None:
    assert DOC.read_text() == render(), (
        "regenerate: python -m harness.report.scenarios_doc > docs/scenarios.md"
    )
