"""``chaos-audit run --jobs N``: the same report as a serial run, outputs that do not collide, the
console in the catalogue's order, Ctrl-C, and no parallel run on a stack the harness does not own.

The fast tests drive the real command with stand-in scenarios that need no stack
(``$CHAOS_AUDIT_SCENARIOS``); the last one audits a few short scenarios of the reference target,
serially and side by side (``slow``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness.run.child import STOP_GRACE_S
from tests.cli_runs import chaos_audit, processes_with, stand_in_env

#: room for a loaded machine on top of the bounds the command itself sets (never asserted on)
LOADED_ROOM_S = 120.0
#: stand-ins in collection order; each says it started, then (the hanging one) waits to be interrupted
STAND_INS = """
import os, threading
from pathlib import Path
import pytest

def _enter(name):
    folder = os.environ.get("STAND_IN_DIR")
    if folder:
        Path(folder, name).touch()

@pytest.mark.audit(id="TEST-RR-T01", title="provider timeout", task="3. Timeouts", severity="CRITICAL")
def test_timeout():
    _enter("T01")
    if os.environ.get("STAND_IN_HANG"):
        threading.Event().wait()  # until interrupted: it never ends by itself, however slow the Ctrl-C

@pytest.mark.audit(id="TEST-RR-006", title="fenced writes", task="Recovery & Resume", severity="CRITICAL")
def test_fencing():
    _enter("006")
    assert os.environ.get("STAND_IN_FENCING") != "broken", "two results committed for item 2"

@pytest.mark.audit(id="TEST-RR-Q03", title="flood", task="8. Queue resilience", severity="MEDIUM")
def test_flood():
    _enter("Q03")

@pytest.mark.audit(id="TEST-RR-004", title="resume from item 8", task="Recovery & Resume", severity="HIGH")
def test_resume():
    _enter("004")
"""
SEED_ORDER = ["TEST-RR-004", "TEST-RR-006", "TEST-RR-T01", "TEST-RR-Q03"]


def _command(*args: str) -> list[str]:
    return chaos_audit("run", *args)


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    return stand_in_env(tmp_path, STAND_INS)


def _verdict_ids(stdout: str) -> list[str]:
    return re.findall(r"^\[\s*\d+/\d+\] \S+\s+(TEST-\S+)", stdout, flags=re.M)


def _audit(report_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((report_dir / "audit.json").read_text())
    return data


def test_stand_ins_side_by_side_give_the_serial_report_in_the_catalogues_order(
    stand_ins: dict[str, str], tmp_path: Path
) -> None:
    env = {**stand_ins, "STAND_IN_FENCING": "broken"}
    serial = subprocess.run(_command("--jobs", "1", "--seed", "9", "--report-dir", str(tmp_path / "s")), env=env,
                            capture_output=True, text=True, timeout=LOADED_ROOM_S)  # fmt: skip
    parallel = subprocess.run(_command("--jobs", "2", "--seed", "9", "--report-dir", str(tmp_path / "p")),
                              env=env, capture_output=True, text=True, timeout=LOADED_ROOM_S)  # fmt: skip
    assert serial.returncode == parallel.returncode == 1, parallel.stdout + parallel.stderr
    assert _verdict_ids(serial.stdout) == ["TEST-RR-T01", "TEST-RR-006", "TEST-RR-Q03", "TEST-RR-004"]
    assert _verdict_ids(parallel.stdout) == SEED_ORDER  # ended in any order, printed in the seeds' order
    assert "2 scenarios side by side" in parallel.stdout and "side by side" not in serial.stdout
    s, p = _audit(tmp_path / "s"), _audit(tmp_path / "p")
    assert [(x["id"], x["verdict"]) for x in p["scenarios"]] == [
        (x["id"], x["verdict"]) for x in s["scenarios"]
    ]
    assert p["score"] == s["score"] == "FAIL" and p["gate"] == s["gate"] and p["complete"] is True
    for name in ("audit.md", "audit.html", "junit.xml", "run.json", "pytest.log"):
        assert (tmp_path / "p" / name).is_file(), name
    allure = sorted((tmp_path / "p" / "allure-results").glob("*-result.json"))
    assert len(allure) == 4  # one per scenario from both workers, none cleaned by the other
    run = json.loads((tmp_path / "p" / "run.json").read_text())
    assert sorted(x["id"] for x in run["scenarios"]) == sorted(SEED_ORDER) and len(run["collected"]) == 4
    shares = [json.loads((tmp_path / "p" / "workers" / w / "run.json").read_text())["scenarios"]
              for w in ("w1", "w2")]  # fmt: skip
    # together they ran each once; who ran how many is the machine's business (the stand-ins end
    # at once, so on a busy machine the first worker ready can take all four before the other is)
    assert sorted(x["id"] for share in shares for x in share) == sorted(SEED_ORDER)
    log = (tmp_path / "p" / "pytest.log").read_text()
    assert "===== worker w1" in log and "===== worker w2" in log


def test_an_alone_scenario_starts_after_the_others_have_ended(
    stand_ins: dict[str, str], tmp_path: Path
) -> None:
    entered = tmp_path / "entered"
    entered.mkdir()
    env = {**stand_ins, "STAND_IN_DIR": str(entered)}
    done = subprocess.run(_command("--jobs", "3", "--report-dir", str(tmp_path / "p")), env=env,
                          capture_output=True, text=True, timeout=LOADED_ROOM_S)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    workers = tmp_path / "p" / "workers"
    events = {w.name: [json.loads(x) for x in (w / "progress.jsonl").read_text().splitlines()]
              for w in workers.iterdir()}  # fmt: skip
    assert len(events) == 3
    flood_on = [w for w, ev in events.items() if any(e.get("id") == "TEST-RR-Q03" for e in ev)]
    assert len(flood_on) == 1
    # the worker that ran it ran it last; every other worker had finished its session (closed)
    assert [e.get("id") for e in events[flood_on[0]] if e["event"] == "start"][-1] == "TEST-RR-Q03"
    flood_entered = (entered / "Q03").stat().st_mtime_ns
    for w in events:
        if w != flood_on[0]:
            assert (workers / w / "run.json").stat().st_mtime_ns <= flood_entered


def test_ctrl_c_stops_every_worker_and_reports_only_the_interrupted_scenario_missing(
    stand_ins: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "report"
    entered = tmp_path / "entered"
    entered.mkdir()
    env = {**stand_ins, "STAND_IN_HANG": "1", "STAND_IN_DIR": str(entered)}
    proc = subprocess.Popen(_command("--report-dir", str(out), "--jobs", "2"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        # RR-004 and RR-006 come before T01 in the seeds' order: their lines are printed as soon as
        # they end. Interrupt once both are printed and T01 is inside its hang (it never ends alone).
        while len(_verdict_ids("\n".join(seen))) < 2 or not (entered / "T01").exists():
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise AssertionError("the run ended before the Ctrl-C: " + "".join(seen))
            seen.append(line)
            if not line:
                time.sleep(0.05)
        os.kill(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=STOP_GRACE_S + LOADED_ROOM_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, output
    data = _audit(out)
    assert data["complete"] is False and data["incomplete_reason"].startswith("interrupted")
    assert [m["id"] for m in data["missing"]] == ["TEST-RR-T01", "TEST-RR-Q03"]  # Q03 never started
    assert sorted(s["id"] for s in data["scenarios"]) == ["TEST-RR-004", "TEST-RR-006"]
    assert not processes_with(str(out))  # every worker is gone


def test_the_external_backend_refuses_jobs_above_1_with_nothing_started(tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = subprocess.run(_command("--backend", "external", "--jobs", "2", "--report-dir", str(out)),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--jobs 2: the external backend" in done.stderr and "(field: --jobs)" in done.stderr
    assert not out.exists()


@pytest.mark.slow
def test_short_scenarios_side_by_side_give_the_serial_verdicts_on_separate_stacks(tmp_path: Path) -> None:
    only = "TEST-RR-P01,TEST-RR-004,TEST-RR-006,TEST-RR-R02"
    runs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs-{jobs}"
        done = subprocess.run(_command("--only", only, "--jobs", jobs, "--seed", "11", "--report-dir", str(out)),
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        runs[jobs] = _audit(out)
        assert sorted(p.name for p in (out / "histories").iterdir()) == sorted(
            f"{i}.jsonl" for i in only.split(",")
        )
    verdicts = {j: [(s["id"], s["verdict"]) for s in r["scenarios"]] for j, r in runs.items()}
    assert verdicts["1"] == verdicts["2"] and {v for _, v in verdicts["2"]} == {"pass"}
    # side by side for real: two scenarios of different workers overlapped in time (CLOCK_MONOTONIC)
    spans = {}
    for name in only.split(","):
        lines = (tmp_path / "jobs-2" / "histories" / f"{name}.jsonl").read_text().splitlines()
        times = [json.loads(x).get("time") for x in lines[1:]]
        spans[name] = (json.loads(lines[0])["start_monotonic"], max(t for t in times if t is not None))
    overlaps = [(a, b) for a in spans for b in spans if a < b
                and spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]]  # fmt: skip
    assert overlaps
