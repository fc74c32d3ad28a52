"""What ``chaos-audit run`` prints: a header, one line per scenario as it ends, and the outcome.

A person watching a run wants to see each verdict with the number that decided it as soon as it
is known, not a wall of pytest output (that goes to ``pytest.log``). ``--quiet`` keeps only the
outcome lines, for CI logs. Colour only on a terminal, and never when ``NO_COLOR`` is set.

With ``--jobs`` above 1 scenarios end in any order, but the lines keep the catalogue's (the
seeds') order, like the report: a finished scenario's line waits until every earlier one is
printed (:class:`InOrder`), and on a terminal a status line below them says what is running.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from harness.catalog import seed_order
from harness.report.evidence import evidence_text, violations_text
from harness.report.model import AuditReport
from harness.run.plan import RunPlan

#: how much key evidence one progress line shows (the report has all of it)
_KEY_CHARS = 200
_COLOURS = {"PASS": "32", "FAIL": "31", "UNKNOWN": "33", "PARTIAL": "33", "FAILED": "31", "passed": "32"}


class InOrder:
    """Releases items in a fixed order of keys: an item waits until every earlier key has had its
    item released or was dropped (a scenario that will never report)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = list(keys)
        self._next = 0
        self._held: dict[str, Any] = {}
        self._dropped: set[str] = set()

    def add(self, key: str, item: Any) -> list[Any]:
        """Hold ``item`` for ``key``; returns the items that can go out now, in order."""
        if key not in self._keys:
            return [item]  # not in the plan (should not happen): never hold it back
        self._held[key] = item
        return self._release()

    def drop(self, key: str) -> list[Any]:
        """``key`` will have no item; returns what that lets out."""
        self._dropped.add(key)
        return self._release()

    def rest(self) -> list[Any]:
        """Everything still held, in order (the run is over)."""
        items = [self._held.pop(k) for k in self._keys[self._next :] if k in self._held]
        self._next = len(self._keys)
        return items

    @property
    def waiting_for(self) -> str | None:
        """The key the held items wait for (None: nothing held)."""
        return self._keys[self._next] if self._held and self._next < len(self._keys) else None

    def _release(self) -> list[Any]:
        out: list[Any] = []
        while self._next < len(self._keys):
            key = self._keys[self._next]
            if key in self._held:
                out.append(self._held.pop(key))
            elif key not in self._dropped:
                break
            self._next += 1
        return out


def seed_ordered(collected: Sequence[Mapping[str, Any]]) -> list[str]:
    """The node ids of a ``collected`` event in the catalogue's order (others after, as collected)."""
    order = sorted(range(len(collected)), key=lambda i: (seed_order(str(collected[i].get("id"))), i))
    return [str(collected[i].get("nodeid")) for i in order]


class Console:
    """Progress lines for one audit run; ``ordered`` for a parallel run (module docstring)."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None, ordered: bool = False) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.colour = self.stream.isatty() and "NO_COLOR" not in os.environ
        self.total = 0
        self.done = 0
        self.ordered = ordered
        self._order: InOrder | None = None
        self._running: dict[str, str] = {}  # node id -> audit id
        self._status = self.stream.isatty() and not quiet  # a live "running:" line below the others
        self._status_shown = False

    def _paint(self, word: str) -> str:
        code = _COLOURS.get(word)
        return f"\033[{code}m{word}\033[0m" if self.colour and code else word

    def _print(self, text: str, *, always: bool = False) -> None:
        if always or not self.quiet:
            self._clear_status()
            print(text, file=self.stream, flush=True)

    def header(self, plan: RunPlan) -> None:
        what = ", ".join(plan.only) if plan.only else "all built scenarios"
        defects = f", defect {','.join(plan.defects)}" if plan.defects else ""
        self._print(
            f"chaos-audit run: target {plan.target.name} ({plan.target_file or 'built-in reference'}), "
            f"backend {plan.backend}, seed {plan.seed}{defects}; scenarios: {what}"
        )
        self._print(f"  report: {plan.report_dir}")
        if plan.jobs > 1:
            self._print(f"  {plan.jobs} scenarios side by side, each on its own stack (--jobs {plan.jobs})")

    def event(self, event: Mapping[str, Any]) -> None:
        """One progress event from the plugin (collected / start / verdict), the pool (``lost``), or
        ``interrupt``."""
        kind = event.get("event")
        if kind == "collected":
            scenarios = event.get("scenarios") or []
            self.total = len(scenarios)
            if self.ordered:
                self._order = InOrder(seed_ordered(scenarios))
            self._print(f"  {self.total} scenario(s) to run")
        elif kind == "start":
            self._running[str(event.get("nodeid"))] = str(event.get("id") or event.get("nodeid"))
        elif kind == "verdict":
            self._running.pop(str(event.get("nodeid")), None)
            if self._order is None:
                self._verdict(event)
            else:
                for held in self._order.add(str(event.get("nodeid")), event):
                    self._verdict(held)
        elif kind == "lost":
            self._running.pop(str(event.get("nodeid")), None)
            for held in self._order.drop(str(event.get("nodeid"))) if self._order else []:
                self._verdict(held)
        elif kind == "interrupt":
            self._print(
                "chaos-audit: interrupted: stopping the scenarios (faults are healed; Ctrl-C again to kill)",
                always=True,
            )
        self._show_status()

    def finish(self) -> None:
        """The run is over: print the lines still held back (their predecessors never reported)."""
        for held in self._order.rest() if self._order else []:
            self._verdict(held)
        self._running.clear()
        self._clear_status()

    def _verdict(self, event: Mapping[str, Any]) -> None:
        self.done += 1
        self._print(self.verdict_line(event))

    def _show_status(self) -> None:
        if not (self._status and self.ordered and self._running):
            self._clear_status()
            return
        running = ", ".join(sorted(self._running.values(), key=seed_order))
        text = f"  running: {running} ({self.done}/{self.total or '?'} printed)"
        self.stream.write("\r\033[K" + text[: shutil.get_terminal_size().columns - 1])
        self.stream.flush()
        self._status_shown = True

    def _clear_status(self) -> None:
        if self._status_shown:
            self.stream.write("\r\033[K")
            self._status_shown = False

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
