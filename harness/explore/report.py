"""The explore report: the same files as ``run`` writes (audit.json / .md / .html / junit.xml).

The exploration is one scenario, ``EXPLORE``: fail with the violated check when one was found,
pass otherwise. Its history is the minimal schedule's replay (or the last round's when nothing
was found), so the HTML timeline shows the minimal schedule's faults, ops and item states; the
evidence carries the seed, the round, the time to find, the minimal schedule's lines and where
the reproducer was saved.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.explore.checks import Violation
from harness.history import History

EXPLORE_ID = "EXPLORE"


def record(
    *,
    violation: Violation | None,
    evidence: dict[str, Any],
    duration_s: float,
    complete: bool,
) -> dict[str, Any]:
    """The exploration as one scenario record of ``run.json``."""
    if violation is not None:
        verdict, reason = "fail", violation.summary()
        checks = [violation.result.to_json()]
    elif complete:
        verdict, reason, checks = "pass", "", []
    else:
        verdict, reason, checks = "unknown", "the exploration did not complete", []
    return {
        "id": EXPLORE_ID,
        "title": "Randomized fault schedules under load (chaos-audit explore)",
        "task": "explore",
        "severity": "HIGH",
        "verdict": verdict,
        "reason": reason,
        "evidence": evidence,
        "checks": checks,
        "duration_s": round(duration_s, 3),
        "harness_error": False,
    }


def write(
    history: History | None,
    ledger: list[dict[str, Any]],
    report_dir: Path,
    scenario: dict[str, Any],
    *,
    target: Any,
    target_file: str | None,
    backend: str,
    seed: int,
    started_at: float,
    defects: tuple[str, ...],
    command: str,
    interrupted: bool = False,
) -> dict[str, Path]:
    """Write every report file (and ``history`` with ``ledger``); returns the paths by kind."""
    from harness import __version__
    from harness.report import RunContext, build_report, write_reports

    report_dir.mkdir(parents=True, exist_ok=True)
    if history is not None:
        path = report_dir / "histories" / f"{EXPLORE_ID}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        history.save(path)
        copy = History.load(path)  # the ledger goes into a copy: the live history stays as it was
        copy.add_ledger(ledger)
        copy.save(path)
    duration = time.time() - started_at
    context = RunContext(
        target_file=target_file,
        backend=backend,
        seed=seed,
        started_at=started_at,
        duration_s=duration,
        only=(EXPLORE_ID,),
        defects=defects,
        report_dir=report_dir,
        interrupted=interrupted,
        incomplete_reason="interrupted (Ctrl-C or SIGTERM)" if interrupted else "",
    )
    run = {"scenarios": [scenario], "collected": []}
    report = build_report(run, target, context, command=command, harness_version=__version__)
    return write_reports(report, report_dir)
