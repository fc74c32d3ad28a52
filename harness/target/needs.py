"""What each scenario needs of a target, and whether a target file declares it.

Every scenario's ``@pytest.mark.audit(..., needs=(...))`` lists the contract fields it may ask
for, in the same spelling the harness records them as they are used (``audit.used``):

=============================== ===========================================================
``services.<role>[*n]``         at least ``n`` services with that role (``services.worker*2``)
``links.<role>``                a proxied link to a service with that role (``links.db``)
``observe.<call>``              an observation call (``observe.items``, ``observe.health``)
``observe.<section>.<field>``   a field of an API answer (``observe.item_fields.holder``)
``control.<call>``              a control call (``control.retry_item``)
``database.observations.<n>``   a store observation (``database.observations.transitions``)
``database.invariants.<n>``     an invariant query (``database.invariants.duplicate_outputs``)
``logs.events.<moment>``        the target's log event for a moment (``logs.events.claimed``)
``logs.<name>_field``           a log field (``logs.correlation_field``)
``workflow``                    the target's ``workflow:`` section (multi-step workflows)
=============================== ===========================================================

A trailing ``?`` marks a need the scenario uses when the target has it and does without
otherwise (``logs.events.retrying?``: one more outcome it accepts): it never makes the scenario
``unknown``, and using it is declared use.

:func:`undeclared` answers from the file alone (no stack) why a need cannot be met; the live
half (does the declared query run, is the field in the answer) is ``harness.target.check``. The
audit's own tests check that a scenario never uses a field it did not declare.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.target.model import Target


@dataclass(frozen=True, kw_only=True)
class ScenarioNeeds:
    """One scenario's id, title and declared needs."""

    id: str
    title: str
    task: str
    needs: tuple[str, ...]
    #: ``handles.<role>``: the roles whose services its faults act on through a handle (from the
    #: catalogue's faults of the scenario); only a running stack needs one (``services.<name>.handle``)
    handles: tuple[str, ...] = ()


def scenario_needs(directory: Path) -> list[ScenarioNeeds]:
    """The audit markers of every scenario module in ``directory`` (imported, nothing run)."""
    found: list[ScenarioNeeds] = []
    for path in sorted(directory.glob("test_*.py")):
        module = _import(path)
        for obj in vars(module).values():
            for mark in _marks(obj):
                if mark.name == "audit":
                    kw = mark.kwargs
                    found.append(
                        ScenarioNeeds(
                            id=kw["id"], title=kw.get("title", ""), task=kw.get("task", ""),
                            needs=tuple(kw.get("needs", ())), handles=fault_handles(kw["id"]),
                        )
                    )  # fmt: skip
    return found


def fault_handles(scenario_id: str) -> tuple[str, ...]:
    """The ``handles.<role>`` needs of the faults the catalogue lists for ``scenario_id`` (what the
    fault registry says each fault acts through); none for a scenario outside the catalogue."""
    from harness.catalog import faults_of
    from harness.faults.registry import handle_needs

    return handle_needs(faults_of(scenario_id) or ())


def missing_handles(target: Target, need: str) -> str | None:
    """Why ``handles.<role>`` cannot be met on the external backend (None: every such service has one)."""
    role = need.removeprefix("handles.")
    if role == "queue_store":
        role = "broker" if target.services_with_role("broker") else "db"
    names = target.services_with_role(role)  # type: ignore[arg-type]
    bare = [n for n in names if target.services[n].fault_handle is None]
    if not names and role in ("db", "broker"):
        return f"no service with role {role} to fault (services.<name>.role: {role} with a handle)"
    if bare:
        fields = ", ".join(f"services.{n}.handle" for n in bare)
        return f"it kills, pauses or stops these services: a running stack needs {fields}"
    return None


def _import(path: Path) -> Any:
    name = f"chaos_audit_needs_scan.{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _marks(obj: Any) -> Iterable[Any]:
    if callable(obj) and getattr(obj, "__name__", "").startswith("test_"):
        yield from getattr(obj, "pytestmark", [])


def undeclared(target: Target, need: str, *, has_database: bool = True) -> str | None:
    """Why ``target``'s file cannot meet ``need`` (None: it declares it).

    ``has_database``: whether the harness can reach the target's database (an external stack
    without a DSN cannot answer store observations or invariants).
    """
    head, _, rest = need.partition(".")
    if head == "services":
        role, _, count = rest.partition("*")
        have = len(target.services_with_role(role))  # type: ignore[arg-type]
        want = int(count or 1)
        return None if have >= want else f"needs {want} service(s) with role {role}, the file has {have}"
    if head == "links":
        roles = {n for n, s in target.services.items() if s.role == rest}
        if any(link.to in roles for link in target.links.values()):
            return None
        return f"no link through the fault proxy to a {rest} service"
    if head == "observe" and rest.startswith("states."):  # a canonical state: seen, unless declared absent
        listed = rest.removeprefix("states.") in {str(s) for s in target.observe.lacks_states}
        return "the target file lists it in observe.lacks_states" if listed else None
    if head == "observe":
        section, _, field = rest.partition(".")
        value = getattr(target.observe, section, None)
        if field:
            value = getattr(value, field, None) if value is not None else None
        return None if value is not None else _not_given(target, need)
    if head == "control":
        return None if getattr(target.control, rest, None) is not None else _not_given(target, need)
    if head == "database":
        kind, _, name = rest.partition(".")
        configured = getattr(target.database, kind, {})
        if name in configured and configured[name] is None:
            return "null in its target file"
        if name not in configured and not (kind == "observations" and _adapter_answers(target, name)):
            return "not given in its target file"
        if not has_database and not (kind == "observations" and _adapter_answers(target, name)):
            return "the harness has no connection to the target's database"
        return None
    if head == "logs":
        if rest.startswith("events."):
            return (
                None
                if target.logs.events.get(rest.removeprefix("events."))
                else "not given in its target file"
            )
        return None if getattr(target.logs, rest, None) is not None else _not_given(target, need)
    if head == "workflow":
        return None if target.workflow is not None else "the target file has no workflow: section"
    return None


def _not_given(target: Target, need: str) -> str:
    """``null`` (the system has none) and omitted (the file does not say) read differently."""
    from harness.target.absence import declared_absent

    return "null in its target file" if declared_absent(target, need) else "not given in its target file"


def unmet(target: Target, needs: Iterable[str], *, has_database: bool = True) -> list[str]:
    """One message per need the target file cannot meet, in the words of an ``unknown`` verdict."""
    out = []
    for need in needs:
        if need.endswith("?"):
            continue
        why = undeclared(target, need, has_database=has_database)
        if why is not None:
            out.append(f"the target does not answer {need!r} ({why})")
    return out


def declared(needs: Iterable[str]) -> set[str]:
    """The fields ``needs`` covers, optional or not (what a scenario may record as used)."""
    return {n.removesuffix("?") for n in needs}


def _adapter_answers(target: Target, name: str) -> bool:
    if target.adapter is None:
        return False
    from harness.target.adapter import adapter_class

    return callable(getattr(adapter_class(target.adapter), name, None))
