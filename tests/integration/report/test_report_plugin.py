"""The pytest plugin: --chaos-only selection, progress events, terminal lines and run.json (pytester)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SCENARIOS = """
import pytest

@pytest.mark.audit(id="TEST-RR-004", title="resume", task="Recovery & Resume", severity="HIGH")
def test_resume():
    pass

@pytest.mark.audit(id="TEST-RR-006", title="fencing", task="Recovery & Resume", severity="CRITICAL")
def test_fencing():
    assert False, "two results committed"

@pytest.mark.audit(id="TEST-RR-Q03", title="backpressure", task="Queue", severity="MEDIUM")
def test_backpressure():
    pytest.skip("unknown: no metrics endpoint")

def test_not_an_audit():
    pass
"""


def _run(
    pytester: pytest.Pytester, *args: str
) -> tuple[pytest.RunResult, dict[str, object], list[dict[str, object]]]:
    pytester.makepyfile(test_scenarios=SCENARIOS)
    out = pytester.path / "out"
    result = pytester.runpytest("--chaos-report-dir", str(out),
                                "--chaos-progress", str(out / "progress.jsonl"), "--chaos-seed", "11", *args)  # fmt: skip
    run = json.loads((out / "run.json").read_text())
    progress = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    return result, run, progress


def test_run_json_records_verdicts_collected_ids_and_progress(pytester: pytest.Pytester) -> None:
    result, run, progress = _run(pytester)
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    assert run["seed"] == 11 and run["exitstatus"] == 1 and run["interrupted"] is False
    assert [c["id"] for c in run["collected"]] == ["TEST-RR-004", "TEST-RR-006", "TEST-RR-Q03"]  # type: ignore[index]
    verdicts = {s["id"]: (s["verdict"], s["harness_error"]) for s in run["scenarios"]}  # type: ignore[index, union-attr]
    assert verdicts == {
        "TEST-RR-004": ("pass", False),
        "TEST-RR-006": ("fail", False),
        "TEST-RR-Q03": ("unknown", False),
    }
    assert [e["event"] for e in progress] == ["collected"] + ["start", "verdict"] * 3
    result.stdout.fnmatch_lines(["*chaos-audit: TEST-RR-006 FAIL (CRITICAL) no evidence recorded*"])


def test_chaos_only_deselects_other_ids_and_non_audit_tests(pytester: pytest.Pytester) -> None:
    result, run, _ = _run(pytester, "--chaos-only", "test-rr-006")
    result.assert_outcomes(failed=1, deselected=3)
    assert [c["id"] for c in run["collected"]] == ["TEST-RR-006"]  # type: ignore[index]
    assert run["only"] == ["TEST-RR-006"]


def test_a_setup_error_is_recorded_as_a_harness_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import pytest\n@pytest.fixture\ndef broken():\n    raise RuntimeError('no database')\n"
    )
    pytester.makepyfile(
        test_broken="""
import pytest

@pytest.mark.audit(id="TEST-RR-T01", title="timeout", task="Timeouts", severity="CRITICAL")
def test_t01(broken):
    pass
"""
    )
    out = pytester.path / "out"
    pytester.runpytest("--chaos-report-dir", str(out))
    record = json.loads((out / "run.json").read_text())["scenarios"][0]
    assert (record["verdict"], record["harness_error"], record["reason"]) == ("unknown", True, "no database")


def test_a_module_that_fails_to_import_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad="import no_such_module_anywhere\n")
    out = pytester.path / "out"
    pytester.runpytest("--chaos-report-dir", str(out), "--continue-on-collection-errors")
    errors = json.loads((out / "run.json").read_text())["collection_errors"]
    assert [e["nodeid"] for e in errors] == ["test_bad.py"] and "no_such_module_anywhere" in errors[0][
        "error"
    ]


def test_without_a_report_dir_nothing_is_written(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_scenarios=SCENARIOS)
    pytester.runpytest("--chaos-only", "TEST-RR-004").assert_outcomes(passed=1, deselected=3)
    assert not list(pytester.path.glob("**/run.json"))
