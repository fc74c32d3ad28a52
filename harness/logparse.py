"""One log line to a record of fields, whatever the target file's ``logs.format`` says.

Every reader of a target's logs goes through :func:`records`: the scenarios (``harness.logs``,
``harness.workload.log_events``) and ``chaos-audit target check``. A check that grepped raw text
while the scenarios parsed JSON once reported an event "seen" on a logfmt service where TEST-RR-SL02
then found "item 5 not logged": one parser means "seen by the check" is "readable by a scenario".

Formats (``logs.format``):

- ``json``: one JSON object a line, its keys the fields (as the harness always read it);
- ``logfmt`` (``text`` is the same): ``ts=... level=error event=item.failed item_id=5 msg="provider
  500"``; quoted values take ``\\"``-style escapes, a bare key is a flag (``True``, like JSON
  ``true``). Words before the first ``key=value`` are a prefix (``2026-12-06 12:00:00,123 ERROR``):
  its leading ISO time fills ``ts`` and a standard level word near its start fills
  ``logs.level_field`` when the pairs lack them;
- ``regex``: ``logs.pattern`` is searched in each line (``^`` anchors it); its named groups are
  the fields (groups that did not match are absent), and a line it does not match is skipped.

Values stay text (``item_id=5`` is ``"5"``): ids compare as strings, as the scenarios compare them.
A line that is not a record of its format (a traceback, a line cut by SIGKILL: an unterminated
quote, a stray ``"`` or ``=``) yields nothing, never an error.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

from harness.target.model import Logs

Record = dict[str, Any]

#: fields tried, in order, for a line's time: epoch seconds (number or its text) or ISO 8601 text
TIME_FIELDS = ("ts", "timestamp", "time", "@timestamp")
#: keys tried for the level after ``logs.level_field`` (logfmt and regex lines only)
LEVEL_KEYS = ("level", "lvl")
#: words a logfmt prefix names its level with (compared case-insensitively, brackets stripped)
LEVEL_WORDS = frozenset({"trace", "debug", "info", "notice", "warn", "warning", "error", "err", "critical",
                         "crit", "fatal", "panic", "alert", "emerg", "severe"})  # fmt: skip
#: how many words of a prefix (after its time) may precede the level word: ``[worker-1] ERROR``
LEVEL_WINDOW = 3

#: where the pairs start: the first word shaped ``key=`` (a prefix's ``[pid=3]`` is not one)
_FIRST_KEY = re.compile(r"(?:^|(?<=\s))[A-Za-z_@][\w.\-/@]*=")
#: one pair: ``key``, ``key=value`` or ``key="quoted \" value"``, ending at a space or the end
_PAIR = re.compile(r'([^\s="]+)(?:=(?:"((?:[^"\\]|\\.)*)"|([^\s="]*)))?(?=\s|$)')
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")
_ESCAPED = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "/": "/"}
#: a prefix's leading time: ``2026-12-06 12:00:00,123``, ``[2026-12-06T12:00:00.1Z]``...
_LEADING_TIME = re.compile(
    r"\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\]?(?=\s|$)"
)
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def records(text: str, spec: Logs) -> Iterator[Record]:
    """The records of ``text``'s lines, in order; lines that are not records are skipped."""
    for line in text.splitlines():
        rec = parse_line(line, spec)
        if rec is not None:
            yield rec


def parse_line(line: str, spec: Logs) -> Record | None:
    """One line's fields, or None when it is not a record of ``spec.format``."""
    line = line.strip()
    if not line:
        return None
    if spec.format == "json":
        return _json(line)
    if spec.format == "regex":
        assert spec.pattern is not None  # the model requires it with format regex
        match = _compiled(spec.pattern).search(line)
        fields = {k: v for k, v in match.groupdict().items() if v is not None} if match else {}
        return _with_level(fields, spec) if fields else None
    parsed = parse_logfmt(line)
    if parsed is None:
        return None
    prefix, fields = parsed
    return _with_prefix(prefix, fields, spec)


def parse_logfmt(line: str) -> tuple[str, Record] | None:
    """``(prefix, pairs)`` of a logfmt line, or None without a pair or when garbled after them."""
    first = _FIRST_KEY.search(line)
    if first is None:
        return None
    prefix, pos, end = line[: first.start()].strip(), first.start(), len(line)
    fields: Record = {}
    while pos < end:
        m = _PAIR.match(line, pos)
        if m is None:  # an unterminated quote or a stray '"' / '=': cut or garbled, not guessed at
            return None
        key, quoted, plain = m.groups()
        fields[key] = _unescape(quoted) if quoted is not None else plain if plain is not None else True
        pos = m.end()
        while pos < end and line[pos].isspace():
            pos += 1
    return prefix, fields


def timestamp(rec: Record) -> float | None:
    """The record's time in epoch seconds, from the first of ``TIME_FIELDS`` that reads as one."""
    for key in TIME_FIELDS:
        value = rec.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            if _NUMBER.fullmatch(value):
                return float(value)
            try:
                return _iso(value)
            except ValueError:
                continue
    return None


def numeric_text(value: str) -> bool:
    """Whether ``value`` is a number written as text (``"5"``, ``"-1.5e3"``)."""
    return _NUMBER.fullmatch(value.strip()) is not None


# -- helpers ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _json(line: str) -> Record | None:
    if not line.startswith("{"):
        return None
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def _with_prefix(prefix: str, fields: Record, spec: Logs) -> Record:
    """Fill ``ts`` and the level from the prefix when the pairs do not carry them."""
    words = prefix.split()
    stamp = _LEADING_TIME.match(prefix)
    if stamp is not None:
        words = prefix[stamp.end() :].split()
        if not any(k in fields for k in TIME_FIELDS):
            fields["ts"] = stamp.group(1)
    fields = _with_level(fields, spec)
    if spec.level_field not in fields:
        level = next((w.strip("[]():|<>") for w in words[:LEVEL_WINDOW]
                      if w.strip("[]():|<>").lower() in LEVEL_WORDS), None)  # fmt: skip
        if level is not None:
            fields[spec.level_field] = level
    return fields


def _with_level(fields: Record, spec: Logs) -> Record:
    """``logs.level_field`` filled from ``level``/``lvl``, so a scenario reads one key for it."""
    if spec.level_field not in fields:
        key = next((k for k in LEVEL_KEYS if k in fields), None)
        if key is not None:
            fields[spec.level_field] = fields[key]
    return fields


def _unescape(quoted: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        return chr(int(code[1:], 16)) if len(code) == 5 else _ESCAPED.get(code, m.group(0))

    return _ESCAPE.sub(one, quoted)


def _iso(text: str) -> float:
    """Epoch seconds of ISO 8601 text (``Z``, a ``,`` before the fraction, a space for ``T``)."""
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00").replace(",", ".")).timestamp()
