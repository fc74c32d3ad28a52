"""The plugin under pytest-xdist (``pytest scenarios -n 2``): one run record, one seed, progress
from the controller, alone scenarios alone, and no xdist on a shared (external) stack."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("xdist")
pytest_plugins = ["pytester"]

SCENARIOS = """
import json, os, time
from pathlib import Path
import pytest

LOG = Path(os.environ["STAND_IN_LOG"])


def _visit(name, config):
    from harness.plugin import SEED_KEY

    start = time.monotonic()
    time.sleep(0.5)
    with open(LOG, "a") as f:  # one short line, one write: appends from the workers never mix
        f.write(json.dumps({"name": name, "start": start, "end": time.monotonic(),
                            "worker": os.environ.get("PYTEST_XDIST_WORKER"),
                            "seed": config.stash[SEED_KEY]}) + "\\n")


@pytest.mark.audit(id="TEST-RR-004", title="t", task="Recovery & Resume", severity="HIGH")
def test_resume(pytestconfig):
    _visit("RR-004", pytestconfig)


@pytest.mark.audit(id="TEST-RR-006", title="t", task="Recovery & Resume", severity="CRITICAL")
def test_fencing(pytestconfig):
    _visit("RR-006", pytestconfig)
    assert False, "two results committed"


@pytest.mark.audit(id="TEST-RR-Q03", title="t", task="8. Queue resilience", severity="MEDIUM")
def test_flood(pytestconfig):
    _visit("Q03", pytestconfig)


@pytest.mark.audit(id="TEST-RR-T01", title="t", task="3. Timeouts", severity="CRITICAL")
def test_timeout(pytestconfig):
    _visit("T01", pytestconfig)
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_scenarios=SCENARIOS)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", *args)


def test_one_run_record_from_the_controller_with_every_workers_verdicts(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = pytester.path / "visits.jsonl"
    monkeypatch.setenv("STAND_IN_LOG", str(log))
    report, progress = pytester.path / "report", pytester.path / "progress.jsonl"
    result = _run(pytester, "--chaos-report-dir", str(report), "--chaos-progress", str(progress))
    result.assert_outcomes(passed=3, failed=1)
    record = json.loads((report / "run.json").read_text())
    verdicts = {s["id"]: s["verdict"] for s in record["scenarios"]}
    assert verdicts == {
        "TEST-RR-004": "pass",
        "TEST-RR-006": "fail",
        "TEST-RR-Q03": "pass",
        "TEST-RR-T01": "pass",
    }
    assert sorted(c["id"] for c in record["collected"]) == sorted(verdicts)  # the workers' full list
    assert record["seed"] == int(result.stdout.str().split("chaos-audit: seed ")[1].split()[0])
    events = [json.loads(line) for line in progress.read_text().splitlines()]
    assert [e["event"] for e in events].count("collected") == 1
    ended = [e for e in events if e["event"] == "verdict"]
    assert sorted(e["id"] for e in ended) == sorted(verdicts)
    assert {e["worker"] for e in ended} <= {"gw0", "gw1"}
    assert [e["event"] for e in events].count("start") == 4
    visits = [json.loads(line) for line in log.read_text().splitlines()]
    assert {v["worker"] for v in visits} == {"gw0", "gw1"}  # really side by side
    assert {v["seed"] for v in visits} == {record["seed"]}  # one seed for the whole run
    flood = next(v for v in visits if v["name"] == "Q03")
    others = [v for v in visits if v is not flood]
    overlapping = [v["name"] for v in others if v["start"] < flood["end"] and flood["start"] < v["end"]]
    assert overlapping == []  # TEST-RR-Q03 is alone in the catalogue


def test_the_external_backend_refuses_xdist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAND_IN_LOG", str(pytester.path / "visits.jsonl"))
    result = _run(pytester, "--chaos-backend", "external", "--chaos-report-dir", str(pytester.path / "r"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*-n/--numprocesses: the external backend*interfere*"])
    assert not (pytester.path / "visits.jsonl").exists()  # nothing ran
    assert not (pytester.path / "r" / "run.json").exists()
