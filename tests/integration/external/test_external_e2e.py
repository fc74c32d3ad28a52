"""End to end: audit a stack the harness did not start, through the external backend.

The test plays the operator of a staging system: it starts the reference target as an independent
stack (``independent.py``: its own embedded PostgreSQL, a persistent ``chaos-audit proxy --links`` and ``chaos-audit
provider``, the API and two workers connecting through the links' addresses), each service
launched detached by ``stackctl.py`` with a pid file, as systemd would. The target file gives
command handles (``kill -KILL <pid>``, ``stackctl.py start``) and the audit runs through
``python -m pytest scenarios --chaos-backend external``: kills, a database crash, a partition,
workers held down per scenario, all through those handles. Then the same stack with a defect
must be caught, scenarios must decide with the stack's own (real, unchangeable) timings, and a run
SIGKILLed mid-fault must leave nothing injected after ``chaos-audit heal``. ``measure.py`` audits all
34 scenarios and every defect against the same stack, by hand.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from independent import ROOT, TIMING, WORKERS, IndependentStack, at_once, stacks_up

from harness.faults.proxy.client import ProxyClient
from harness.process.pidfiles import PidFiles

pytestmark = pytest.mark.slow


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[IndependentStack]:
    stack = IndependentStack(tmp_path)
    try:
        stack.up()
        yield stack
    finally:
        stack.close()


def test_audit_of_a_running_stack_decides_kills_and_catches_a_defect(
    staging: IndependentStack, tmp_path: Path
) -> None:
    verdicts = staging.audit("TEST-RR-004,TEST-RR-006,TEST-RR-RE01,TEST-RR-Q01", tmp_path / "correct")
    assert set(verdicts) == {"TEST-RR-004", "TEST-RR-006", "TEST-RR-RE01", "TEST-RR-Q01"}
    assert "fail" not in verdicts.values(), verdicts
    # the kill scenarios are decided through the handles, not left unknown
    assert verdicts["TEST-RR-004"] == "pass" and verdicts["TEST-RR-RE01"] == "pass", verdicts
    assert verdicts["TEST-RR-Q01"] == "pass" and verdicts["TEST-RR-006"] == "pass", verdicts
    assert all(staging.alive(n) for n in ("api", *WORKERS, "db")), "the stack is left as it was found"
    assert (
        not list(staging.journal_dir.glob("*.json"))
        or not json.loads(next(staging.journal_dir.glob("*.json")).read_text())["entries"]
    )

    staging.restart_app(defects="no_fencing")
    defect = staging.audit("TEST-RR-006", tmp_path / "defect")
    assert defect == {"TEST-RR-006": "fail"}, defect


#: the stack's own deadline and maximum duration: longer than the 5 s and 1 s the harness would set,
#: which a running stack keeps (waitable), and short enough that the audit waits seconds, not a minute
OWN_TIMING = {**TIMING, "batch_deadline_s": 12, "max_duration_s": 4}


def test_scenarios_wait_for_the_stacks_own_timings_and_still_catch_their_defects(tmp_path: Path) -> None:
    # the stack's 12 s deadline and 1 s lease, which the harness cannot change: RR-005 runs into the
    # real deadline, WR-004 starts the API before its worker so the short lease cannot stand in for
    # start-up recovery (tests/integration/external/measure.py audits all 34 the same way). The
    # correct stack and the defective one are two stacks audited side by side: both mostly wait.
    only = "TEST-RR-005,TEST-WR-004"
    correct = IndependentStack(tmp_path / "correct-stack", timing=OWN_TIMING)
    defective = IndependentStack(
        tmp_path / "defect-stack", timing=OWN_TIMING, defects="no_timeout_state,no_startup_recovery"
    )
    with stacks_up(correct, defective):
        verdicts = at_once(
            [
                lambda: correct.audit(only, tmp_path / "correct"),
                lambda: defective.audit(only, tmp_path / "defect"),
            ]
        )
    assert verdicts[0] == {"TEST-RR-005": "pass", "TEST-WR-004": "pass"}, verdicts
    assert verdicts[1] == {"TEST-RR-005": "fail", "TEST-WR-004": "fail"}, verdicts


def test_heal_after_a_run_sigkilled_mid_fault_leaves_nothing_injected(
    staging: IndependentStack, tmp_path: Path
) -> None:
    run = subprocess.Popen(staging.audit_argv("TEST-RR-006", tmp_path / "killed"), cwd=ROOT, env=staging.env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    journal: Path | None = None
    proxy = ProxyClient(f"http://127.0.0.1:{staging.ports['proxy']}")
    deadline = time.monotonic() + 120
    try:  # killed once the partition is journaled *and* made (the journal entry comes first)
        while time.monotonic() < deadline and run.poll() is None:
            files = list(staging.journal_dir.glob("*.json"))
            entries = json.loads(files[0].read_text())["entries"] if files else []
            if any(e["kind"] == "toxic" for e in entries) and proxy.toxics("worker-1-db"):
                journal = files[0]
                break
            time.sleep(0.02)
        run.send_signal(signal.SIGKILL)
    finally:
        run.kill()
        run.wait()
    assert journal is not None, "the run never partitioned a link"
    assert proxy.toxics("worker-1-db"), "the fault outlived the killed run (that is what heal is for)"

    healed = subprocess.run([sys.executable, "-m", "harness.cli", "heal", "--target", str(staging.target_file)],
                            cwd=ROOT, env=staging.env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert all(not proxy.toxics(link) for link in proxy.proxies()), "no toxic is left"
    assert all(p.enabled for p in proxy.proxies().values())
    for name in ("api", *WORKERS):
        assert staging.alive(name), f"{name} runs again"
        pid = int((staging.state / f"{name}.pid").read_text())
        assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T", (
            f"{name} is not paused"
        )
    assert not journal.exists(), "heal clears the journal"
    left = list(PidFiles.default().state_dir.glob(f"{run.pid}-*.json"))
    assert not left, f"heal reaps what the killed run left on this machine: {left}"


def test_target_check_exercises_the_handles_of_the_running_stack(staging: IndependentStack) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "target", "check", str(staging.target_file), "--backend", "external"],
        cwd=ROOT, env=staging.env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("db", "api", *WORKERS):
        assert any(
            line.split()[:2] == ["ok", f"services.{name}.handle"] for line in done.stdout.splitlines()
        ), done.stdout
    assert any(line.split()[:3] == ["TEST-RR-004", "can", "run"] for line in done.stdout.splitlines())


def test_chaos_audit_run_says_what_it_may_fault_then_audits(
    staging: IndependentStack, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--target", str(staging.target_file), "--backend", "external",
         "--only", "TEST-RR-004", "--report-dir", str(tmp_path / "report"), "--seed", "7"],
        cwd=ROOT, env=staging.env(), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "environment 'e2e-staging'" in done.stdout
    assert "may fault service worker-1 (kill, pause, restart) through its handle's commands" in done.stdout
    audit = json.loads((tmp_path / "report" / "audit.json").read_text())
    assert "TEST-RR-004" in json.dumps(audit)
