"""audit.html opened in a real headless Chromium: the results table and one timeline per scenario render.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it). When it is missing and this
runs as root with apt-get, the fixture installs it; the test is skipped only when that fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.report import RunContext, build_report, write_reports
from harness.target.load import load_target

DATA = Path(__file__).parents[2] / "unit" / "report" / "data"


def _install_chromium() -> str:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root or no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return f"{' '.join(argv)} timed out"
        if done.returncode != 0:
            return f"{' '.join(argv)} failed: {done.stderr.strip()[-300:]}"
    return ""


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        why = _install_chromium()
        found = shutil.which("chromium")
        if found is None:
            pytest.skip(f"headless Chromium is not installed and could not be installed ({why})")
    return found


def _dump_dom(chromium: str, page: Path, profile: Path) -> str:
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--dump-dom", page.as_uri()]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_chromium_renders_the_table_and_one_timeline_per_scenario(chromium: str, tmp_path: Path) -> None:
    shutil.copytree(DATA / "histories", tmp_path / "histories")
    run = json.loads((DATA / "run.json").read_text())
    context = RunContext(target_file=None, backend="local", seed=424242, started_at=1795440000.0, duration_s=31.5,
                         defects=("no_fencing",), report_dir=tmp_path)  # fmt: skip
    report = build_report(run, load_target(None)[0], context, command="chaos-audit run --seed 424242")
    page = write_reports(report, tmp_path)["html"]
    dom = _dump_dom(chromium, page, tmp_path / "profile")
    assert '<table id="results">' in dom
    rows = re.findall(r'<tr data-verdict="(\w+)">', dom)
    assert rows == ["pass", "fail", "unknown"]
    timelines = re.findall(r'<svg class="timeline" data-scenario="([^"]+)"', dom)
    assert timelines == ["TEST-RR-004", "TEST-RR-006", "TEST-RR-Q03"]
    assert 'data-rendered="3"' in dom  # the inline script ran and saw the three timelines
    assert 'id="score">FAIL<' in dom and "fencing_token" in dom  # the failed check's own fix
