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

from harness.target.model import CanonicalState

_MAX_VALUE_CHARS = 120
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


_EXPECTATION_KEYS = ({"value", "expected"}, {"value", "expected", "holds"})


def is_expectation(value: Any) -> bool:
    """True for the ``{"value": ..., "expected": ...[, "holds": bool]}`` form of ``ScenarioRun.evidence``."""
    return isinstance(value, Mapping) and set(value) in _EXPECTATION_KEYS


def mismatched(value: Any) -> bool:
    """True only when an expectation-form value is known to differ from what was expected.

    Red in a report must mean "differs", so an expectation that cannot be decided is never
    red: the scenario's own judgement (``holds``, set from the check of the same name) decides
    first, then :func:`judge` where the expectation is a value, a bound or a list of alternatives.
    """
    if not is_expectation(value):
        return False
    if "holds" in value:
        return value["holds"] is False
    return judge(value["value"], value["expected"]) is False


_BOUND = re.compile(r"(<=|>=|<|>)\s*(?:[a-z][a-z ]*)?(-?\d+(?:\.\d+)?)")  # "< 2", ">= deadline 3.0"
_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:\.\.|-)\s*(-?\d+(?:\.\d+)?)\s*$")
#: single words an expectation can be decided on: the canonical states, and yes/no
_WORDS = frozenset({*(s.value for s in CanonicalState), "yes", "no", "none"})
_COMPARE = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}


def judge(got: Any, want: Any) -> bool | None:
    """Whether ``got`` meets the expectation ``want``; None when the expectation is prose.

    Decided: equal non-text values; bounds anywhere in the text (``"<= 2.0 each"``, ``"~lease
    (1.0 s), < 5.0"``: every number measured must meet every bound); ranges (``"8-20"``,
    ``"3..5"``); a canonical state or yes/no (``"completed"``); alternatives (``"timeout or failed"``,
    ``"failed (or retrying)"``: one of them); and text whose numbers are what was measured
    (``"7/13"`` against ``"7 done / 13 remaining"``). Anything else (``"names timeout"``) is None.
    """
    if not isinstance(want, str):
        return bool(got == want) if not isinstance(got, str) else judge(got, str(want))
    text = got if isinstance(got, str) else format_value(got)
    measured = [float(n) for n in _NUMBER.findall(text)]
    bounds = _BOUND.findall(want)
    if bounds:
        if not measured:
            return None
        return all(_COMPARE[op](m, float(limit)) for op, limit in bounds for m in measured)
    span = _RANGE.match(want)
    if span:
        low, high = sorted(float(x) for x in span.groups())
        return bool(measured) and all(low <= m <= high for m in measured)
    alternatives = [a.strip(" ()") for a in want.replace("(or ", " or ").split(" or ")]
    if len(alternatives) > 1:
        verdicts = [judge(got, a) for a in alternatives if a]
        return True if True in verdicts else (False if verdicts and None not in verdicts else None)
    word = want.strip().lower()
    if word in _WORDS:
        return text.strip().lower() == word
    expected_numbers = _NUMBER.findall(want)
    if expected_numbers and measured and not re.sub(r"[\d\s./,:-]", "", want):  # nothing but numbers
        return [float(n) for n in expected_numbers] == measured
    if expected_numbers and measured:
        return [float(n) for n in expected_numbers] == measured if _same_words(text, want) else None
    return True if text.strip().lower() == want.strip().lower() else None


def _same_words(got: str, want: str) -> bool:
    """True when the expectation's words (numbers aside) all appear in the measured text."""
    words = re.findall(r"[a-z]+", want.lower())
    return bool(words) and all(w in got.lower() for w in words)


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
