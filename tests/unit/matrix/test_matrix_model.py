"""The matrix's judgement on literal verdicts: what counts as detected, what is a false positive."""

from __future__ import annotations

import json
from pathlib import Path

from harness import catalog
from harness.matrix.html import render
from harness.matrix.model import Matrix, Row, defect_plan
from harness.matrix.rows import expected_seconds


def test_the_plan_covers_every_defect_of_the_catalogue_with_its_scenarios() -> None:
    plan = defect_plan()
    every = {d for e in catalog.ENTRIES for d in e.defects}
    assert set(plan) == every
    assert plan["no_fencing"] == ("TEST-RR-006",)
    assert set(plan["retry_reprocesses_all"]) == {"TEST-RR-008", "TEST-RR-R01", "TEST-RR-R02"}
    assert all(plan.values())


def test_a_defect_is_detected_only_when_every_named_scenario_fails() -> None:
    ids = ("TEST-RR-008", "TEST-RR-R01")
    assert Row(defect="d", expected=ids, verdicts={i: "fail" for i in ids}).detected
    assert not Row(defect="d", expected=ids, verdicts={"TEST-RR-008": "fail", "TEST-RR-R01": "pass"}).detected
    assert not Row(
        defect="d", expected=ids, verdicts={"TEST-RR-008": "fail", "TEST-RR-R01": "unknown"}
    ).detected
    assert not Row(defect="d", expected=ids, verdicts={}, error="crashed").detected


def test_problems_name_the_undetected_defect_and_the_false_positive() -> None:
    matrix = Matrix(
        correct={"TEST-RR-004": "pass", "TEST-RR-006": "fail"},
        rows=(
            Row(defect="no_fencing", expected=("TEST-RR-006",), verdicts={"TEST-RR-006": "fail"}),
            Row(defect="batch_level_checkpoint", expected=("TEST-RR-004",), verdicts={"TEST-RR-004": "pass"}),
        ),
        seed=7,
    )
    assert not matrix.ok
    assert matrix.false_positives == ["TEST-RR-006"]
    assert matrix.undetected == ["batch_level_checkpoint"]
    text = "\n".join(matrix.problems())
    assert "TEST-RR-006 does not pass on the correct target" in text
    assert "defect batch_level_checkpoint is not detected by TEST-RR-004 (TEST-RR-004: pass)" in text
    data = matrix.to_json()
    assert data["rows"][0]["detected"] is True and data["false_positives"] == ["TEST-RR-006"]


def test_an_all_green_matrix_is_ok_and_renders_a_grid() -> None:
    matrix = Matrix(
        correct={"TEST-RR-006": "pass"},
        rows=(Row(defect="no_fencing", expected=("TEST-RR-006",), verdicts={"TEST-RR-006": "fail"}),),
        seed=1,
    )
    assert matrix.ok
    page = render(matrix)
    assert "<table id='matrix'>" in page and "no_fencing" in page and "detected" in page
    assert "http" not in page.lower().replace("http-equiv", "")


def test_a_row_is_expected_to_take_what_it_took_last_time_else_its_scenarios_seconds(tmp_path: Path) -> None:

    ids = ("TEST-RR-008", "TEST-RR-R01")
    assert expected_seconds(tmp_path, ids) == sum(catalog.BY_ID[i].seconds for i in ids)
    (tmp_path / "run.json").write_text(json.dumps({"started_at": 100.0, "finished_at": 189.5}))
    assert expected_seconds(tmp_path, ids) == 89.5
