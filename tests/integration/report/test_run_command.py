"""``chaos-audit run`` end to end: exit codes, the four files, Ctrl-C, and nothing started on bad input.

Most tests drive the real command with a folder of stand-in scenarios (``$CHAOS_AUDIT_SCENARIOS``)
that need no stack, so they exercise the child process, progress, reports and exit codes in
seconds. The last test audits the real reference target (``slow``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.run.child import STOP_GRACE_S
from tests.cli_runs import chaos_audit, processes_with, stand_in_env

#: room for a loaded machine on top of the bounds the command itself sets (never asserted on)
LOADED_ROOM_S = 120.0
STAND_INS = """
import os, threading
from pathlib import Path
import pytest

@pytest.mark.audit(id="TEST-RR-004", title="resume from item 8", task="Recovery & Resume", severity="HIGH")
def test_resume():
    pass

@pytest.mark.audit(id="TEST-RR-006", title="fenced writes", task="Recovery & Resume", severity="CRITICAL")
def test_fencing():
    assert os.environ.get("STAND_IN_FENCING") != "broken", "two results committed for item 2"

@pytest.mark.audit(id="TEST-RR-T01", title="provider timeout", task="3. Timeouts", severity="CRITICAL")
def test_timeout():
    inside = os.environ.get("STAND_IN_HANG")
    if inside:
        Path(inside).touch()  # the test's cue: this scenario is running, inside its hang
        threading.Event().wait()  # until interrupted: it never ends by itself, however slow the Ctrl-C
"""


def _command(*args: str) -> list[str]:
    return chaos_audit("run", *args)


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    return stand_in_env(tmp_path, STAND_INS)


def _files(report_dir: Path) -> tuple[dict[str, object], str, str, ET.Element]:
    data = json.loads((report_dir / "audit.json").read_text())
    root = ET.parse(report_dir / "junit.xml").getroot()
    return data, (report_dir / "audit.md").read_text(), (report_dir / "audit.html").read_text(), root


def test_all_passing_exits_0_with_four_consistent_files(stand_ins: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = subprocess.run(_command("--report-dir", str(out), "--seed", "3"), env=stand_ins, cwd="/",
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    data, md, html, junit = _files(out)
    assert data["score"] == "PASS" and data["complete"] is True and data["seed"] == 3
    assert [s["verdict"] for s in data["scenarios"]] == ["pass"] * 3  # type: ignore[index]
    assert "## Overall Score: PASS" in md and 'id="score">PASS<' in html
    assert junit.get("tests") == "3" and junit.get("failures") == "0"
    results = [json.loads(p.read_text()) for p in (out / "allure-results").glob("*-result.json")]
    labels = {r["name"]: {(x["name"], x["value"]) for x in r["labels"]} for r in results}
    assert {("epic", "Reliability & Resilience Audit"), ("feature", "3. Timeouts"), ("story", "TEST-RR-T01"),
            ("severity", "blocker")} <= labels["TEST-RR-T01: provider timeout"]  # fmt: skip
    assert ("severity", "critical") in labels["TEST-RR-004: resume from item 8"]
    assert "score=PASS\n" in (out / "allure-results" / "environment.properties").read_text()
    lines = done.stdout.splitlines()
    assert sum(line.startswith("[") and "PASS" in line for line in lines) == 3
    assert "chaos-audit run --seed 3 --report-dir" in done.stdout


def test_a_critical_failure_fails_the_gate_and_quiet_prints_only_the_outcome(
    stand_ins: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "report"
    env = {**stand_ins, "STAND_IN_FENCING": "broken"}
    done = subprocess.run(_command("--only", "TEST-RR-006", "--report-dir", str(out), "--quiet"), env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("Score: FAIL") and "[1/1]" not in done.stdout
    data, md, _, _ = _files(out)
    assert data["score"] == "FAIL" and data["gate"]["failing"] == ["TEST-RR-006"]  # type: ignore[index]
    assert "#### TEST-RR-006: Concurrent resume after network partition" in md and "fencing token" in md
    done = subprocess.run(_command("--only", "TEST-RR-006", "--report-dir", str(out), "--fail-on", "any",
                                   "--quiet"), env=stand_ins, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0  # the previous report's files were replaced


def test_ctrl_c_stops_the_scenarios_and_reports_what_is_missing(
    stand_ins: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "report"
    inside = tmp_path / "inside-the-hang"
    env = {**stand_ins, "STAND_IN_HANG": str(inside)}
    proc = subprocess.Popen(_command("--report-dir", str(out), "--jobs", "1"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        # The stand-in says when it is inside its hang, and stays there until interrupted: the
        # Ctrl-C lands in the middle of it however slow the machine. No deadline of our own: a run
        # that ends first fails here, one that hangs is the suite's timeout to report.
        while not inside.exists():
            if proc.poll() is not None:
                raise AssertionError(
                    f"the run ended before the hanging stand-in started: {proc.communicate()[0]}"
                )
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends to the foreground process
        # the command waits STOP_GRACE_S for its child to stop (then kills it), then writes the report
        output, _ = proc.communicate(timeout=STOP_GRACE_S + LOADED_ROOM_S)
    finally:
        if proc.poll() is None:
            proc.kill()  # its child gets SIGINT from the kernel and stops too
            proc.wait()
    assert proc.returncode == 3, output
    data, md, _, _ = _files(out)
    assert data["complete"] is False and data["incomplete_reason"].startswith("interrupted")  # type: ignore[union-attr]
    assert [m["id"] for m in data["missing"]] == ["TEST-RR-T01"]  # type: ignore[index]
    assert "**INCOMPLETE RUN**" in md and "interrupted" in output
    assert not processes_with(str(out))  # the pytest child is gone


def test_a_wrong_field_exits_2_naming_it_with_nothing_started(tmp_path: Path) -> None:
    bad = tmp_path / "target.yaml"
    bad.write_text("schema_version: 1\nname: mine\nservices:\n  api: {rol: api}\n"
                   "trigger: {create: {path: /b}}\nobserve: {batch: {path: /b}}\n")  # fmt: skip
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    marker = f"chaos-audit-test-{uuid.uuid4()}"
    env = {**os.environ, "TMPDIR": str(scratch), "CHAOS_TEST_MARKER": marker}
    out = tmp_path / "report"
    done = subprocess.run(_command("--target", str(bad), "--report-dir", str(out)), env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "services.api.rol" in done.stderr and "unknown field" in done.stderr
    assert not out.exists() and list(scratch.iterdir()) == []
    assert processes_with(marker) == []


def test_an_unknown_placeholder_exits_2_naming_the_field_with_nothing_started(tmp_path: Path) -> None:
    from harness.target.load import load_target

    _, reference = load_target(None)
    text = reference.read_text().replace('"{timing.lease_s}"', '"{timing.nope}"', 1)
    bad = tmp_path / "target.yaml"
    bad.write_text(text)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    marker = f"chaos-audit-test-{uuid.uuid4()}"
    env = {**os.environ, "TMPDIR": str(scratch), "CHAOS_TEST_MARKER": marker}
    out = tmp_path / "report"
    done = subprocess.run(_command("--target", str(bad), "--report-dir", str(out)), env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "(field: services.api.env.REFTARGET_LEASE_S)" in done.stderr
    assert "unknown placeholder {timing.nope}" in done.stderr
    assert not out.exists() and list(scratch.iterdir()) == []
    assert processes_with(marker) == []


@pytest.mark.parametrize(
    ("args", "words"),
    [(("--only", "TEST-RR-404"), "unknown scenario id"), (("--defect", "typo_defect"), "unknown defect"),
     (("--fail-on", "low"), "invalid choice")],
)  # fmt: skip
def test_bad_options_exit_2(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    done = subprocess.run(_command(*args, "--report-dir", str(tmp_path / "r")), capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 2 and words in done.stderr and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_the_reference_target_audit_of_rr_004(tmp_path: Path) -> None:
    """The real command, real stack, from another working directory (acceptance: exit 0)."""
    out = tmp_path / "report"
    done = subprocess.run(_command("--only", "TEST-RR-004", "--report-dir", str(out)), cwd=tmp_path,
                          capture_output=True, text=True, timeout=280)  # fmt: skip
    data, md, html, junit = _files(out)
    assert data["complete"] is True, done.stdout + done.stderr
    assert done.returncode == (0 if data["gate"]["passed"] else 1)  # type: ignore[index]
    scenario = data["scenarios"][0]  # type: ignore[index]
    assert scenario["id"] == "TEST-RR-004" and scenario["history"] == "histories/TEST-RR-004.jsonl"
    assert (
        html.count('<svg class="timeline"') == 1 and html.count('class="state ') > 20
    )  # sampled state lanes
    assert f"## Overall Score: {data['score']}" in md and junit.get("tests") == "1"
    (result,) = [json.loads(p.read_text()) for p in (out / "allure-results").glob("*-result.json")]
    attachments = {a["name"] for a in result["attachments"]}
    assert {"evidence", "history excerpt", "log: api", "log: worker-1"} <= attachments
    assert done.returncode == 0, (
        f"TEST-RR-004 against the reference target: {scenario['verdict']}: {scenario['reason']}"
    )


@pytest.mark.slow
def test_the_no_fencing_defect_fails_the_gate_with_finding_and_remediation(tmp_path: Path) -> None:
    """Acceptance: ``--defect no_fencing --only TEST-RR-006`` exits 1, score FAIL, the finding and its fix."""
    out = tmp_path / "report"
    done = subprocess.run(_command("--defect", "no_fencing", "--only", "TEST-RR-006", "--report-dir", str(out)),
                          cwd=tmp_path, capture_output=True, text=True, timeout=280)  # fmt: skip
    data, md, _, _ = _files(out)
    assert done.returncode == 1, done.stdout + done.stderr
    assert data["score"] == "FAIL" and data["target"]["defects"] == ["no_fencing"]  # type: ignore[index]
    # the core check's fix is the scenario's (fencing); a failed invariant beside it gets its own
    assert "#### TEST-RR-006: " in md
    assert re.search(r"\*\*Remediation\*\* for [^\n]*\(effort M\): Fence every write", md), md
    assert "--defect no_fencing" in md and "--seed " in md
