"""What to change in the target, per failed check: the diagnosis belongs to the check, not the scenario.

A scenario that fails on one check gets that check's fix: its own (``fix=`` in the catalogue), else
the shared fix of an invariant or ledger checker of that name (``generic.py``), else, for a core
check, the scenario's remediation. So P01 failing only its roll-up is told to roll up, not to isolate
errors it already isolates, and a roll-up race seen during Q01 is reported as the roll-up invariant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.catalog.checks import checks_of
from harness.catalog.checks.generic import generic_fix
from harness.catalog.remediation import remediation_for


@dataclass(frozen=True, kw_only=True)
class Fix:
    """One remediation and the failed checks it answers."""

    checks: tuple[str, ...]
    text: str
    effort: str

    def to_json(self) -> dict[str, object]:
        return {"checks": list(self.checks), "text": self.text, "effort": self.effort}


def fixes_for(scenario_id: str, failed_checks: Iterable[str]) -> list[Fix]:
    """The fixes for ``failed_checks`` of ``scenario_id``, the scenario's own first, one per text."""
    spec = checks_of(scenario_id)
    scenario = remediation_for(scenario_id)
    by_text: dict[str, tuple[list[str], str]] = {}
    for name in dict.fromkeys(failed_checks):
        check = spec.spec(name)
        own = check.fix if check is not None else None
        text, effort = (own, "S") if own else (generic_fix(name), "S")
        if not text:
            text, effort = scenario.text, scenario.effort
        by_text.setdefault(text, ([], effort))[0].append(name)
    fixes = [Fix(checks=tuple(names), text=text, effort=effort) for text, (names, effort) in by_text.items()]
    fixes.sort(key=lambda f: f.text != scenario.text)  # the scenario's headline first, when it applies
    if not fixes:  # failed without a named check (an assertion of its own): the scenario's fix
        fixes = [Fix(checks=(), text=scenario.text, effort=scenario.effort)]
    return fixes
