"""``chaos-audit run``: audit a target and write the report; the exit code is the CI gate.

Order of things: validate everything (exit 2 before anything starts), reap what a dead earlier
run left running, clear the previous report's files, run the scenarios in a pytest child, or with
``--jobs N`` in N workers each on its own stack (:mod:`harness.run.pool`; live progress on the
console either way), read the plugin's ``run.json`` back, write audit.json / audit.md /
audit.html / junit.xml (+ Allure), then exit: 0 gate passed, 1 gate failed, 2 bad usage or invalid
target file, 3 the run did not complete (harness error, interrupted; the report names the
scenarios that are missing).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from harness import options
from harness.cli import EXIT_GATE_FAILED, EXIT_INCOMPLETE, EXIT_OK
from harness.report.model import DEFAULT_MIN_DECIDED, FAIL_ON
from harness.run.plan import DEFAULT_FAIL_ON, DEFAULT_REPORT_DIR

#: files and folders of a previous run that a new run replaces (nothing else in the folder is touched)
OUTPUTS = ("audit.json", "audit.md", "audit.html", "junit.xml", "run.json", "progress.jsonl", "pytest.log")
OUTPUT_DIRS = ("histories", "allure-results", "workers")


def configure(parser: argparse.ArgumentParser) -> None:
    options.add_target(parser)
    options.add_backend(parser)
    parser.add_argument("--only", default=None, metavar="ID[,ID...]", help="run only these scenario ids")
    options.add_defect(parser)
    options.add_seed(parser)
    options.add_report_dir(parser, DEFAULT_REPORT_DIR)
    parser.add_argument(
        "--fail-on",
        default=DEFAULT_FAIL_ON,
        choices=FAIL_ON,
        help="gate: exit 1 when a scenario of this severity or above fails (any: anything not "
        "passed); default: high",
    )
    parser.add_argument(
        "--min-decided",
        default=DEFAULT_MIN_DECIDED,
        type=_share,
        metavar="SHARE",
        help="gate: exit 1 when fewer than this share of the scenarios run were decided (pass or fail); "
        f"0..1 or a percentage; default {DEFAULT_MIN_DECIDED * 100:.0f}%%",
    )
    parser.add_argument(
        "--jobs",
        default=None,
        type=int,
        metavar="N",
        help="scenarios side by side, each on its own stack (default: from the cores and the scenarios' "
        "weight; 1 on the external backend, where more is refused)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the outcome (for CI logs)")


def _share(text: str) -> float:
    """``0.5``, ``50%`` or ``50`` -> 0.5 (argparse turns the ValueError into exit 2 naming the option)."""
    value = float(text.strip().removesuffix("%"))
    value = value / 100 if text.strip().endswith("%") or value > 1 else value
    if not 0 <= value <= 1:
        raise ValueError(text)
    return value


def main(args: argparse.Namespace) -> int:
    from harness import __version__
    from harness.report import RunContext, build_report, write_reports
    from harness.run.child import run_child
    from harness.run.console import Console
    from harness.run.plan import build_plan
    from harness.run.pool import run_parallel

    plan = build_plan(args)  # ConfigError -> exit 2, nothing started
    if plan.backend == "external":
        from harness.stack.safety import plan_lines, require_faults_allowed

        for line in plan_lines(plan.target):
            print(line)
        require_faults_allowed(plan.target)  # ConfigError -> exit 2, nothing injected
    console = Console(quiet=plan.quiet, ordered=plan.jobs > 1)
    reap_dead_runs()
    _clear_outputs(plan.report_dir)
    console.header(plan)
    started = time.time()
    outcome = (run_parallel if plan.jobs > 1 else run_child)(plan, console.event)
    console.finish()
    run = read_run_json(plan.report_dir / "run.json")
    context = RunContext(
        target_file=plan.target_file,
        backend=plan.backend,
        seed=plan.seed,
        started_at=started,
        duration_s=time.time() - started,
        only=plan.only,
        defects=plan.defects,
        fail_on=plan.fail_on,
        min_decided=plan.min_decided,
        interrupted=outcome.interrupted,
        incomplete_reason=incomplete_reason(outcome.returncode, outcome.interrupted, outcome.killed, run),
        report_dir=plan.report_dir,
    )
    report = build_report(run, plan.target, context, command=plan.command(), harness_version=__version__)
    paths = write_reports(report, plan.report_dir)
    console.summary(report, paths)
    if not report.complete:
        _show_log_tail(plan.report_dir / "pytest.log", interrupted=outcome.interrupted)
        return EXIT_INCOMPLETE
    return EXIT_OK if report.gate_passed else EXIT_GATE_FAILED


def reap_dead_runs() -> list[str]:
    """Kill what an earlier run that died (SIGKILL, OOM) left running: its pytest child, the proxy,
    the provider, PostgreSQL, the target's services; remove its temp dirs. Before anything starts,
    so the leftovers cannot hold ports, CPU or the report dir during this run."""
    from harness.process.pidfiles import PidFiles

    reaped = PidFiles.default().reap_stale()
    for line in reaped:
        print(f"chaos-audit: {line}", file=sys.stderr)
    return reaped


def read_run_json(path: Path) -> dict[str, Any] | None:
    """The plugin's run record, or None when the child died before writing a readable one."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def incomplete_reason(
    returncode: int | None, interrupted: bool, killed: bool, run: dict[str, Any] | None
) -> str:
    """Why the run did not complete ('' when nothing says so; missing verdicts are judged by the report)."""
    if run is not None and run.get("aborted"):
        return f"aborted by the safety watcher: {run['aborted']}"
    if interrupted:
        return "interrupted (Ctrl-C or SIGTERM)" + ("; the scenarios had to be killed" if killed else "")
    if run is None:
        return f"the scenario run ended before writing run.json (pytest exit {returncode}); see pytest.log"
    errors = run.get("collection_errors") or []
    if errors:
        return "scenario modules failed to load: " + ", ".join(str(e.get("nodeid")) for e in errors)
    if returncode in (2, 3, 4):
        return f"pytest ended with an error (exit {returncode}); see pytest.log"
    if not run.get("collected"):
        return "no scenario was collected"
    return ""


def _clear_outputs(report_dir: Path) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        (report_dir / name).unlink(missing_ok=True)
    for name in OUTPUT_DIRS:
        shutil.rmtree(report_dir / name, ignore_errors=True)


def _show_log_tail(log: Path, *, interrupted: bool, lines: int = 15) -> None:
    if interrupted:
        return
    try:
        tail = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return
    print(f"chaos-audit: last lines of {log}:", file=sys.stderr)
    for line in tail:
        print(f"  {line}", file=sys.stderr)
