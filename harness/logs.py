"""Reading the target's logs: every service's log lines, one flow found by its correlation id.

The target file's ``logs`` section says how a line is written (``format``: json, logfmt or a
regex, parsed by harness.logparse) and which fields carry the correlation id, the item id, the
event name and the level (``correlation_field``, ``item_field``, ``event_field``, ``level_field``).
The harness never greps free text for an id: it parses each line into fields and filters on
those, as an engineer with a log search would (TEST-RR-O01, TEST-RR-O02)::

    logs = TargetLogs.of(audit.stack)
    trail = logs.by_correlation("audit-o02-1f3a")          # every service, in time order
    steps = rebuild_flow(trail, FLOW_STEPS)                # received -> ... -> completed

Lines that are not records of the format (a traceback on stderr, a line cut by SIGKILL) are
skipped, not errors. Every format gives the same :class:`LogEntry`, so no scenario knows which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.logparse import TIME_FIELDS, numeric_text, records, timestamp
from harness.process.logs import read_log
from harness.stack.base import INFRA_ROLES, Stack
from harness.target.model import Logs

__all__ = ["TIME_FIELDS", "FlowStep", "LogEntry", "Matcher", "TargetLogs", "event_matcher",
           "parse_lines", "rebuild_flow"]  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """One log line of one service (any ``logs.format``), with the contract's fields pulled out."""

    service: str
    ts: float | None
    event: str | None
    level: str | None
    correlation_id: str | None
    item_id: str | None
    fields: Mapping[str, Any]

    def mentions(self, term: str | int) -> bool:
        """Whether any field value names ``term``: text contains it (case-insensitive); a number, or a
        number written as text (logfmt's ``item_id=5``), names a number term only when equal to it."""
        return any(_value_mentions(v, term) for v in self.fields.values())

    def brief(self) -> dict[str, Any]:
        """The entry as evidence: service, event, level, item and time."""
        return {"service": self.service, "event": self.event, "level": self.level,
                "item_id": self.item_id, "ts": self.ts}  # fmt: skip


class TargetLogs:
    """The logs of a stack's services, parsed per ``logs.format`` with the target file's field names."""

    def __init__(self, paths: Mapping[str, Path], spec: Logs) -> None:
        self.paths = dict(paths)
        self.spec = spec

    @classmethod
    def of(cls, stack: Stack, services: Sequence[str] | None = None) -> TargetLogs:
        """The logs of ``services`` (default: every started service that is not infrastructure, and
        every service the stack can read a log of without starting it (``Stack.logged_services``):
        on a running stack, a worker the scenario did not start still logs what it did).

        A path in the target file's ``logs.paths`` wins over the backend's own log file.
        """
        started = [n for n in stack.started if stack.target.services[n].role not in INFRA_ROLES]
        names = (
            services if services is not None else list(dict.fromkeys([*started, *stack.logged_services()]))
        )
        paths: dict[str, Path] = {}
        for name in names:
            configured = stack.target.logs.paths.get(name)
            path = Path(configured) if configured else stack.log_path(name)
            if path is not None:
                paths[name] = path
        return cls(paths, stack.target.logs)

    @property
    def is_json(self) -> bool:
        return self.spec.format == "json"

    def entries(self) -> list[LogEntry]:
        """Every record of every service, in time order (lines without a time last)."""
        out = [
            e for service, path in self.paths.items() for e in parse_lines(service, read_log(path), self.spec)
        ]
        return sorted(out, key=lambda e: (e.ts is None, e.ts or 0.0))

    def by_correlation(self, correlation_id: str) -> list[LogEntry]:
        """The entries carrying ``correlation_id`` in the correlation field, in time order."""
        return [e for e in self.entries() if e.correlation_id == correlation_id]


def parse_lines(service: str, text: str, spec: Logs) -> list[LogEntry]:
    """The records of ``text`` (per ``spec.format``) as entries; anything else is skipped."""
    return [
        LogEntry(
            service=service,
            ts=timestamp(rec),
            event=_text(rec.get(spec.event_field)),
            level=_text(rec.get(spec.level_field)),
            correlation_id=_text(rec.get(spec.correlation_field)) if spec.correlation_field else None,
            item_id=_text(rec.get(spec.item_field)) if spec.item_field else None,
            fields=rec,
        )
        for rec in records(text, spec)
    ]


# -- one flow, step by step -----------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class FlowStep:
    """One step of a rebuilt flow: the first entry that matched it, and the time since the last step."""

    step: str
    entry: LogEntry | None
    at_ms: float | None  #: since the flow's first entry
    duration_ms: float | None  #: since the previous step that was found

    def to_json(self) -> dict[str, Any]:
        found = self.entry is not None
        return {"step": self.step, "found": found,
                "service": self.entry.service if self.entry else None,
                "event": self.entry.event if self.entry else None,
                "at_ms": self.at_ms, "duration_ms": self.duration_ms}  # fmt: skip


Matcher = Callable[[LogEntry], bool]


def event_matcher(*words: str) -> Matcher:
    """Match entries whose event name contains any of ``words`` (case-insensitive)."""
    lowered = [w.lower() for w in words]
    return lambda e: e.event is not None and any(w in e.event.lower() for w in lowered)


def rebuild_flow(trail: Iterable[LogEntry], steps: Sequence[tuple[str, Matcher]]) -> list[FlowStep]:
    """Walk ``trail`` (time-ordered) and find each step in order, each after the previous one found.

    Every step gets the first matching entry at or after the previous step's entry, so the rebuilt
    flow is causal; a step never found is reported with ``entry=None`` and the walk goes on.
    """
    entries = [e for e in trail if e.ts is not None]
    start = entries[0].ts if entries else None
    out: list[FlowStep] = []
    pos, last_ts = 0, start
    for name, match in steps:
        hit = next((i for i in range(pos, len(entries)) if match(entries[i])), None)
        if hit is None:
            out.append(FlowStep(step=name, entry=None, at_ms=None, duration_ms=None))
            continue
        entry = entries[hit]
        assert entry.ts is not None and start is not None and last_ts is not None
        out.append(FlowStep(step=name, entry=entry, at_ms=round((entry.ts - start) * 1000, 1),
                            duration_ms=round((entry.ts - last_ts) * 1000, 1)))  # fmt: skip
        pos, last_ts = hit, entry.ts
    return out


# -- helpers ---------------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _value_mentions(value: Any, term: str | int) -> bool:
    if isinstance(value, Mapping):
        return any(_value_mentions(v, term) for v in value.values())
    if isinstance(value, list):
        return any(_value_mentions(v, term) for v in value)
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, int | float):  # a number names a term only when equal to it
        return str(value) == str(term)
    text = str(value)
    if isinstance(term, int) and numeric_text(text):  # "15" is a number: it does not name 5
        return float(text) == term
    return str(term).lower() in text.lower()
