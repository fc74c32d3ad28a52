"""The pytest plugin, driven with pytester: verdicts, unknown capabilities, the run record."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

FAKE_STACK = """
import pytest
from harness.target.load import load_target


class FakeProvider:
    def ledger(self):
        return []


class FakeStack:
    provider = FakeProvider()
    db_dsn = ""
    api_url = None

    def __init__(self):
        self.target, _ = load_target(None)
        self.timing = self.target.timing.model_dump()

    def close(self):
        pass


@pytest.fixture
def chaos_stack():
    yield FakeStack()
"""

SCENARIOS = """
import pytest
from harness.errors import CapabilityMissing


@pytest.mark.audit(id="TEST-X-001", title="passes", task="T", severity="HIGH")
def test_pass(audit):
    audit.expect("always", True)
    audit.evidence("calls", 20, expected=20)
    audit.conclude()


@pytest.mark.audit(id="TEST-X-002", title="fails", task="T", severity="CRITICAL")
def test_fail(audit):
    audit.expect("duplicates_zero", False, detail={"duplicates": 2})
    audit.conclude()


@pytest.mark.audit(id="TEST-X-003", title="capability missing", task="T", severity="HIGH")
def test_unknown(audit):
    raise CapabilityMissing("control.cancel")


@pytest.mark.audit(id="TEST-X-004", title="checks nothing", task="T", severity="HIGH")
def test_nothing(audit):
    audit.conclude()
"""


def test_verdicts_and_the_run_record(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_STACK)
    pytester.makepyfile(test_scenarios=SCENARIOS)
    report_dir = pytester.path / "report"
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--chaos-report-dir", str(report_dir), "--chaos-seed", "7"
    )
    result.assert_outcomes(passed=1, failed=2, skipped=1)
    record = json.loads((report_dir / "run.json").read_text())
    assert record["seed"] == 7
    verdicts = {s["id"]: s["verdict"] for s in record["scenarios"]}
    assert verdicts == {
        "TEST-X-001": "pass",
        "TEST-X-002": "fail",
        "TEST-X-003": "unknown",
        "TEST-X-004": "fail",
    }
    by_id = {s["id"]: s for s in record["scenarios"]}
    assert by_id["TEST-X-001"]["evidence"] == {"calls": {"value": 20, "expected": 20}}
    assert "control.cancel" in by_id["TEST-X-003"]["reason"]
    assert "duplicates" in json.dumps(by_id["TEST-X-002"]["checks"])
    assert "must check something" in by_id["TEST-X-004"]["reason"]


def test_only_selects_scenarios_by_audit_id(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_STACK)
    pytester.makepyfile(test_scenarios=SCENARIOS)
    result = pytester.runpytest("-p", "no:cacheprovider", "--chaos-only", "TEST-X-001")
    result.assert_outcomes(passed=1)


HARNESS_ERRORS = """
import pytest
from harness.errors import ConfigError, ServiceError
from harness.stack.render import render


@pytest.mark.audit(id="TEST-X-010", title="service will not start", task="T", severity="CRITICAL")
def test_service_error(audit):
    raise ServiceError("api did not become ready within 20 s")


@pytest.mark.audit(id="TEST-X-011", title="placeholder", task="T", severity="CRITICAL")
def test_placeholder(audit):
    render("{timing.nope}", {}, where="services.api.env.X")


@pytest.mark.audit(id="TEST-X-012", title="a real finding", task="T", severity="CRITICAL")
def test_finding(audit):
    assert False, "two results committed"
"""


def test_a_harness_error_mid_scenario_is_unknown_never_fail(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_STACK)
    pytester.makepyfile(test_scenarios=HARNESS_ERRORS)
    report_dir = pytester.path / "report"
    pytester.runpytest("-p", "no:cacheprovider", "--chaos-report-dir", str(report_dir))
    by_id = {s["id"]: s for s in json.loads((report_dir / "run.json").read_text())["scenarios"]}
    for sid, words in (("TEST-X-010", "did not become ready"), ("TEST-X-011", "unknown placeholder")):
        assert by_id[sid]["verdict"] == "unknown" and by_id[sid]["harness_error"] is True, by_id[sid]
        assert words in by_id[sid]["reason"]
    assert by_id["TEST-X-012"]["verdict"] == "fail" and by_id["TEST-X-012"]["harness_error"] is False


NEEDS = """
import pytest


@pytest.mark.audit(id="TEST-N-001", title="needs more workers", task="T", severity="HIGH",
                   needs=("services.worker*5", "observe.items"))
def test_unmet(audit):
    raise AssertionError("must not run: the target cannot meet its needs")


@pytest.mark.audit(id="TEST-N-002", title="uses what it declares", task="T", severity="HIGH",
                   needs=("services.worker",))
def test_declared(audit):
    audit.workers(1)
    audit.expect("ok", True)
    audit.conclude()


@pytest.mark.audit(id="TEST-N-003", title="uses more than it declares", task="T", severity="HIGH",
                   needs=("services.worker",))
def test_undeclared(audit):
    audit.workers(2)
    audit.expect("ok", True)
    audit.conclude()
"""


def test_unmet_needs_are_unknown_before_the_scenario_runs_and_undeclared_use_is_recorded(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(FAKE_STACK)
    pytester.makepyfile(test_needs=NEEDS)
    report_dir = pytester.path / "report"
    result = pytester.runpytest("-p", "no:cacheprovider", "--chaos-report-dir", str(report_dir))
    result.assert_outcomes(passed=2, skipped=1)
    by_id = {s["id"]: s for s in json.loads((report_dir / "run.json").read_text())["scenarios"]}
    assert by_id["TEST-N-001"]["verdict"] == "unknown"
    assert by_id["TEST-N-001"]["reason"] == (
        "the target does not answer 'services.worker*5' (needs 5 service(s) with role worker, the file has 2)"
    )
    assert by_id["TEST-N-002"]["undeclared_use"] == []
    assert by_id["TEST-N-003"]["undeclared_use"] == ["services.worker*2"]
    assert by_id["TEST-N-003"]["contract_used"] == ["services.worker*2"]


JUDGED = """
import pytest


@pytest.mark.audit(id="TEST-J-001", title="judged evidence", task="T", severity="HIGH")
def test_judged(audit):
    audit.evidence("item_error", "boom", expected="names timeout")
    audit.evidence("note", "x", expected="prose")
    audit.evidence("said", "y", expected="prose", holds=True)
    audit.expect("item_error", False)
    audit.conclude()
"""


def test_evidence_is_judged_by_the_check_of_its_name(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_STACK)
    pytester.makepyfile(test_scenarios=JUDGED)
    report_dir = pytester.path / "report"
    pytester.runpytest("-p", "no:cacheprovider", "--chaos-report-dir", str(report_dir))
    (record,) = json.loads((report_dir / "run.json").read_text())["scenarios"]
    assert record["evidence"]["item_error"] == {"value": "boom", "expected": "names timeout", "holds": False}
    assert "holds" not in record["evidence"]["note"] and record["evidence"]["said"]["holds"] is True


INTERRUPTED = """
import pytest


@pytest.mark.audit(id="TEST-X-001", title="t", task="x", severity="HIGH")
def test_interrupted(audit):
    raise KeyboardInterrupt
"""

#: what pytest's terminal reporter does when the interrupt's traceback has an entry without a line
#: number (CPython 3.11, a SIGINT landing on such an instruction): its ``getrepr`` raises
REPORTER_CRASH = """
def pytest_keyboard_interrupt(excinfo):
    raise TypeError("unsupported operand type(s) for -: 'NoneType' and 'int'")
"""


@pytest.mark.parametrize("reporter_crashes", [False, True])
def test_an_interrupted_session_is_recorded_as_interrupted(
    pytester: pytest.Pytester, reporter_crashes: bool
) -> None:
    pytester.makeconftest(FAKE_STACK + (REPORTER_CRASH if reporter_crashes else ""))
    pytester.makepyfile(test_scenarios=INTERRUPTED)
    report_dir = pytester.path / "report"
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--chaos-report-dir", str(report_dir))
    record = json.loads((report_dir / "run.json").read_text())
    assert record["interrupted"] is True, record["exitstatus"]
