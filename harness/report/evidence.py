"""Evidence and violations as short human text, shared by every writer and the console.

Scenarios record evidence as ``key: value`` or ``key: {value, expected}`` (``ScenarioRun.evidence``)
and checkers group violations Jepsen-style (count, first, worst, last). Readers of the Markdown,
the HTML, JUnit and the console should all see the same sentence for the same number, so the
formatting lives here once. Evidence that differs from its expectation is listed first: that is
the number a reader of a failed scenario is looking for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_MAX_VALUE_CHARS = 120
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def is_expectation(value: Any) -> bool:
    """True for the ``{"value": ..., "expected": ...}`` form of ``ScenarioRun.evidence``."""
    return isinstance(value, Mapping) and set(value) == {"value", "expected"}


def mismatched(value: Any) -> bool:
    """True when an expectation-form value differs from what was expected.

    Text is compared by the numbers it contains when both sides have some, so ``"7 done / 13
    remaining"`` matches an expected ``"7/13"``: scenarios phrase the measurement for readers.
    """
    if not is_expectation(value):
        return False
    got, want = value["value"], value["expected"]
    if isinstance(got, str) and isinstance(want, str):
        got_numbers, want_numbers = _NUMBER.findall(got), _NUMBER.findall(want)
        if got_numbers and want_numbers:
            return bool(got_numbers != want_numbers)
        return got.strip().lower() != want.strip().lower()
    return bool(got != want)


def format_value(value: Any) -> str:
    """One value as text: floats rounded, lists and mappings compact, long text cut."""
    if is_expectation(value):
        return f"{format_value(value['value'])} (expected {format_value(value['expected'])})"
    if isinstance(value, bool) or value is None:
        text = {True: "yes", False: "no", None: "none"}[value]
    elif isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    elif isinstance(value, Mapping):
        text = ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    elif isinstance(value, list | tuple):
        shown = [format_value(v) for v in value[:12]]
        text = "[" + ", ".join(shown) + (f", ... {len(value)} in all" if len(value) > 12 else "") + "]"
    else:
        text = str(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def ordered(evidence: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Evidence items, those differing from their expectation first, then in recorded order."""
    items = list(evidence.items())
    return [i for i in items if mismatched(i[1])] + [i for i in items if not mismatched(i[1])]


def evidence_text(evidence: Mapping[str, Any], *, limit: int | None = None, sep: str = "; ") -> str:
    """``key: value (expected x)`` pairs joined by ``sep``; ``limit`` keeps the most telling ones."""
    items = ordered(evidence)
    shown = items if limit is None else items[:limit]
    text = sep.join(f"{k.replace('_', ' ')}: {format_value(v)}" for k, v in shown)
    if limit is not None and len(items) > limit:
        text += f"{sep}+{len(items) - limit} more"
    return text or "no evidence recorded"


def violation_text(violation: Mapping[str, Any]) -> str:
    """``kind xN (first: ...)``, plus the worst and last when they differ from the first."""
    first = format_value(violation.get("first"))
    text = f"{violation.get('kind', '?')} x{violation.get('count', 1)} (first: {first})"
    for key in ("worst", "last"):
        other = violation.get(key)
        if other and other != violation.get("first"):
            text += f"; {key}: {format_value(other)}"
    return text


def violations_text(violations: Iterable[Mapping[str, Any]], *, sep: str = " | ") -> str:
    return sep.join(violation_text(v) for v in violations)
