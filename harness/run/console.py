"""What ``chaos-audit run`` prints: a header, one line per scenario as it ends, and the outcome.

A person watching a run wants to see each verdict with the number that decided it as soon as it
is known, not a wall of pytest output (that goes to ``pytest.log``). ``--quiet`` keeps only the
outcome lines, for CI logs. Colour only on a terminal, and never when ``NO_COLOR`` is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from harness.report.evidence import evidence_text, violations_text
from harness.report.model import AuditReport
from harness.run.plan import RunPlan

#: how much key evidence one progress line shows (the report has all of it)
_KEY_CHARS = 200
_COLOURS = {"PASS": "32", "FAIL": "31", "UNKNOWN": "33", "PARTIAL": "33", "FAILED": "31", "passed": "32"}


class Console:
    """Progress lines for one audit run."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.colour = self.stream.isatty() and "NO_COLOR" not in os.environ
        self.total = 0
        self.done = 0

    def _paint(self, word: str) -> str:
        code = _COLOURS.get(word)
        return f"\033[{code}m{word}\033[0m" if self.colour and code else word

    def _print(self, text: str, *, always: bool = False) -> None:
        if always or not self.quiet:
            print(text, file=self.stream, flush=True)

    def header(self, plan: RunPlan) -> None:
        what = ", ".join(plan.only) if plan.only else "all built scenarios"
        defects = f", defect {','.join(plan.defects)}" if plan.defects else ""
        self._print(
            f"chaos-audit run: target {plan.target.name} ({plan.target_file or 'built-in reference'}), "
            f"backend {plan.backend}, seed {plan.seed}{defects}; scenarios: {what}"
        )
        self._print(f"  report: {plan.report_dir}")

    def event(self, event: Mapping[str, Any]) -> None:
        """One progress event from the plugin (collected / start / verdict) or ``interrupt``."""
        kind = event.get("event")
        if kind == "collected":
            self.total = len(event.get("scenarios") or [])
            self._print(f"  {self.total} scenario(s) to run")
        elif kind == "verdict":
            self.done += 1
            self._print(self.verdict_line(event))
        elif kind == "interrupt":
            self._print(
                "chaos-audit: interrupted: stopping the scenarios (faults are healed; Ctrl-C again to kill)",
                always=True,
            )

    def verdict_line(self, record: Mapping[str, Any]) -> str:
        verdict = str(record.get("verdict", "unknown")).upper()
        width = len(str(self.total or 1))
        key = evidence_text(record.get("evidence") or {}, limit=2)
        checks = record.get("checks") or []
        violations = [
            {"check": c.get("name"), **v}
            for c in checks
            if c.get("valid") == "false"
            for v in c.get("violations", [])
        ]
        if verdict == "FAIL" and violations:
            key = violations_text(violations[:2]) + "; " + key
        elif verdict != "PASS" and record.get("reason"):
            key = str(record["reason"]).splitlines()[0][:160]
        undecided = [u for u in record.get("undecided") or [] if not u.get("core")]
        if verdict == "PASS" and undecided:  # visible: what this target did not let the audit look at
            verdict = "PASS*"
            key = f"{len(undecided)} secondary check(s) undecided ({undecided[0].get('name')}...); " + key
        key = key if len(key) <= _KEY_CHARS else key[: _KEY_CHARS - 3] + "..."
        counter = f"[{self.done:>{width}}/{self.total or '?'}]"
        padded = self._paint(verdict) + " " * max(0, 7 - len(verdict))  # pad outside the colour codes
        sid, severity = record.get("id", "?"), record.get("severity", "")
        return (
            f"{counter} {padded} {sid:<13} {severity:<8} {key} ({float(record.get('duration_s') or 0):.1f} s)"
        )

    def summary(self, report: AuditReport, paths: Mapping[str, Path]) -> None:
        counts = report.counts()
        if not report.complete:
            gate = "not decided (incomplete run)"
        elif report.gate_passed:
            gate = self._paint("passed")
        else:
            gate = f"{self._paint('FAILED')} by {', '.join(report.gate_failures)}"
        missing = f", {counts['missing']} not completed" if counts["missing"] else ""
        self._print(
            f"Score: {self._paint(report.score)}: {counts['pass']} passed, {counts['fail']} failed, "
            f"{counts['unknown']} unknown{missing}; gate (fail on {report.context.fail_on}): "
            f"{gate}",
            always=True,
        )
        if not report.complete:
            why = report.context.incomplete_reason or ("interrupted" if report.context.interrupted else "")
            errors = [s.id for s in report.harness_errors]
            if errors and not why:
                why = f"harness error in {', '.join(errors)} (see pytest.log)"
            names = ", ".join([m.id for m in report.missing] + errors) or "none"
            self._print(f"Incomplete run{': ' + why if why else ''}; not completed: {names}", always=True)
        html = paths.get("html")
        others = ", ".join(p.name for k, p in paths.items() if k != "html")
        self._print(f"Report: {html} (also {others})" if html else "Report: not written", always=True)
        self._print(f"Reproduce: {report.command}")
        self._print(report.checked_text(), always=True)
