"""The session's report: the audit report's own files, with the session as one scenario, ``SESSION``.

The history is saved where the audit's writers look for it (``histories/SESSION.jsonl``, with a
copy of the provider's ledger), a ``run.json``-shaped record is built around it, and
``harness.report`` writes audit.json / audit.md / audit.html / junit.xml from it, so the HTML page
shows the session's timeline (item states, fault windows, provider calls, the console's commands)
exactly as it shows a scenario's. The verdict is the latest ``check``'s: fail when an invariant
was violated, pass when every checker passed, unknown when none ran. ``session.txt`` beside it is
the session as a replayable script.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness.checkers.result import Validity
from harness.faults.registry import label
from harness.history import History
from harness.session.engine import Session
from harness.session.script import script_text

SESSION_ID = "SESSION"
SCRIPT_FILE = "session.txt"


def session_record(session: Session, *, duration_s: float) -> dict[str, Any]:
    """The session as one scenario record of ``run.json``."""
    checks = session.checks
    if not checks:
        verdict, reason = "unknown", "no check was run in this session (type check)"
    elif any(c.valid is Validity.FALSE for c in checks):
        verdict = "fail"
        reason = " | ".join(c.summary() for c in checks if c.valid is Validity.FALSE)
    elif any(c.valid is Validity.UNKNOWN for c in checks):
        verdict = "unknown"
        reason = "; ".join(c.summary() for c in checks if c.valid is Validity.UNKNOWN)
    else:
        verdict, reason = "pass", ""
    faults = [label(f.name, f.target, f.details) for f in session.history.faults() if f.phase == "start"]
    states = session.snapshot().item_states()
    return {
        "id": SESSION_ID,
        "title": f"Ad-hoc chaos session ({len(session.typed)} commands, {len(faults)} faults)",
        "task": "session",
        "severity": "HIGH",
        "verdict": verdict,
        "reason": reason,
        "evidence": {
            "commands": len(session.typed),
            "faults": ", ".join(dict.fromkeys(faults)) or "none",
            "batches": len(session.batches),
            "items_by_state": dict(sorted(Counter(states).items())),
            "seed": session.seed,
        },
        "checks": [c.to_json() for c in checks],
        "duration_s": round(duration_s, 3),
        "harness_error": False,
    }


def write_session_report(
    session: Session,
    report_dir: Path,
    *,
    target_file: str | None,
    backend: str,
    command: str,
) -> dict[str, Path]:
    """Write every report file plus the history and the script; returns the paths by kind."""
    from harness import __version__
    from harness.report import RunContext, build_report, write_reports

    report_dir.mkdir(parents=True, exist_ok=True)
    history_path = report_dir / "histories" / f"{SESSION_ID}.jsonl"
    history_path.parent.mkdir(parents=True, exist_ok=True)
    session.history.save(history_path)
    try:  # the ledger goes into a copy: the live history stays free of (repeated) ledger entries
        ledger = [e.to_json() for e in session.stack.provider.ledger()]
        copy = History.load(history_path)
        copy.add_ledger(ledger)
        copy.save(history_path)
    except Exception as exc:  # the report is still worth having without the provider's calls
        session.notes.append(f"report: provider ledger not included ({type(exc).__name__}: {exc})")
    started = session.history.start_wall
    duration = time.time() - started
    run = {"scenarios": [session_record(session, duration_s=duration)], "collected": []}
    context = RunContext(
        target_file=target_file,
        backend=backend,
        seed=session.seed,
        started_at=started,
        duration_s=duration,
        only=(SESSION_ID,),
        report_dir=report_dir,
    )
    report = build_report(run, session.target, context, command=command, harness_version=__version__)
    paths = write_reports(report, report_dir)
    script = report_dir / SCRIPT_FILE
    script.write_text(script_text(session, command=command))
    return {**paths, "history": history_path, "script": script}
