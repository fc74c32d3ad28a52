"""Each scenario's checks: which answer its question (core), what each reads, the fix when it fails.

A scenario declares what it needs to *run* (its setup and fault: the marker's ``needs``); each of
its checks declares what it *reads* beyond that. A check whose input the target does not answer is
``unknown`` and named, and the scenario's other checks still decide. The verdict (see
:mod:`harness.verdict`): ``fail`` if any decided check fails; ``pass`` when every *core* check
passed (undecided *secondary* checks are listed beside the verdict); ``unknown`` only when a core
check could not be decided.

``requires`` names what the seeds require *of the system* (a summary, a state, a correlation id, a
retry limit, a deadline, a breaker, a dead-letter state): when the target file says the system has
none (an explicit ``null``/``none``), the check fails with a finding naming what is missing; when
the file merely omits it, the check is ``unknown`` with a hint naming the line to add.

Check names are exact or ``fnmatch`` patterns (``state_*_reachable``); a recorded check that no
spec names counts as core (strict: the audit's own tests require every name to be listed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True, kw_only=True)
class CheckSpec:
    """One check of a scenario."""

    name: str  #: the name it is recorded under, or an fnmatch pattern of names
    core: bool  #: answers the scenario's question: undecided makes the scenario ``unknown``
    #: contract fields it reads beyond the scenario's run needs (the ``needs`` spelling)
    reads: tuple[str, ...] = ()
    #: capabilities the seeds require of the system: declared absent in the target file = a finding
    requires: tuple[str, ...] = ()
    #: what to change in the target when it fails (default: by its name, then the scenario's fix)
    fix: str | None = None

    def matches(self, name: str) -> bool:
        return name == self.name or fnmatchcase(name, self.name)


def core(name: str, *, reads: Iterable[str] = (), requires: Iterable[str] = (), fix: str = "") -> CheckSpec:
    """A check that answers the scenario's question."""
    return CheckSpec(name=name, core=True, reads=tuple(reads), requires=tuple(requires), fix=_text(fix))


def secondary(
    name: str, *, reads: Iterable[str] = (), requires: Iterable[str] = (), fix: str = ""
) -> CheckSpec:
    """A check that adds evidence; undecided, it is listed beside a pass instead of blocking it."""
    return CheckSpec(name=name, core=False, reads=tuple(reads), requires=tuple(requires), fix=_text(fix))


def _text(fix: str) -> str | None:
    return " ".join(fix.split()) or None


@dataclass(frozen=True)
class ScenarioChecks:
    """The checks of one scenario, in the order the report lists them."""

    scenario_id: str
    checks: tuple[CheckSpec, ...]

    def spec(self, name: str) -> CheckSpec | None:
        """The spec naming ``name`` (exact names first, then patterns)."""
        exact = [c for c in self.checks if c.name == name]
        return exact[0] if exact else next((c for c in self.checks if c.matches(name)), None)

    def is_core(self, name: str) -> bool:
        spec = self.spec(name)
        return True if spec is None else spec.core

    def requires(self, name: str) -> tuple[str, ...]:
        spec = self.spec(name)
        return spec.requires if spec is not None else ()

    @property
    def core_names(self) -> list[str]:
        return [c.name for c in self.checks if c.core]

    @property
    def reads(self) -> set[str]:
        """Every field any check reads (what the scenario may use beyond its run needs)."""
        return {r for c in self.checks for r in (*c.reads, *c.requires)}


def checks_of(scenario_id: str) -> ScenarioChecks:
    """The catalogue's checks of ``scenario_id`` (none for a scenario outside the catalogue)."""
    from harness.catalog.checks.table import TABLE

    return ScenarioChecks(scenario_id, TABLE.get(scenario_id, ()))
