"""``chaos-audit target check FILE``: will this target file audit my system, scenario by scenario?

Order of things: validate the file (a wrong field is exit 2 naming it, nothing started), read every
scenario's declared needs, start (or reach) the stack, exercise every declared call and
observation once (``harness.target.check``), tear the stack down, then print the contract's
findings and, per scenario, whether it can run or why it will be ``unknown``.

Exit codes: 0 the contract holds (some scenarios may still be unknown: the file does not declare
what they need), 2 the file is invalid or a declared call or observation is broken (each named),
3 the stack could not start. ``--static`` stops before starting anything: the per-scenario
answer from the file alone.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness import options
from harness.errors import HarnessError
from harness.options import seed_of
from harness.stack.backends import get_backend
from harness.target.check import Finding
from harness.target.model import Target
from harness.target.needs import ScenarioNeeds, missing_handles, scenario_needs, unmet

EXIT_OK, EXIT_BROKEN, EXIT_INCOMPLETE = 0, 2, 3


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="target_command", metavar="ACTION")
    sub.required = True
    check = sub.add_parser("check", help="validate a target file and exercise its contract on a live stack")
    check.add_argument("file", help="the target file (YAML), or 'reference'")
    options.add_backend(check)
    options.add_seed(check)
    check.add_argument("--static", action="store_true", help="only the file: start nothing")


def main(args: argparse.Namespace) -> int:
    from harness.run.plan import scenarios_dir
    from harness.target.load import load_target

    target, path = load_target(args.file)  # ConfigError: exit 2 naming the field
    scenarios = scenario_needs(scenarios_dir())
    seed = seed_of(args)
    print(f"chaos-audit target check: {target.name} ({path}), backend {args.backend}, seed {seed}")
    starts = get_backend(args.backend).starts_services  # else a running stack, faulted through handles
    has_db = starts or bool(target.database.dsn)
    findings: list[Finding] = []
    if not args.static:
        try:
            findings = _exercise(target, args.backend, seed)
        except HarnessError as exc:
            print(f"chaos-audit target check: the stack could not start: {exc}", file=sys.stderr)
            return EXIT_INCOMPLETE
        _print_findings(findings)
    broken = [f for f in findings if f.status == "broken"]
    runnable = _print_scenarios(target, scenarios, findings, has_database=has_db, handles=not starts)
    print(f"{runnable} of {len(scenarios)} scenarios can run; {len(scenarios) - runnable} will be unknown")
    if broken:
        names = ", ".join(dict.fromkeys(f.field for f in broken))
        print(f"chaos-audit: error: broken contract: {names}", file=sys.stderr)
        return EXIT_BROKEN
    return EXIT_OK


def _exercise(target: Target, backend: str, seed: int) -> list[Finding]:
    from harness.stack.lifecycle import open_stack
    from harness.target.check import ContractExercise

    with open_stack(target, backend, seed=seed, say=print, faults=False) as stack:
        return ContractExercise(stack, seed=seed).exercise()


def _print_findings(findings: Sequence[Finding]) -> None:
    print("contract:")
    width = max((len(f.field) for f in findings), default=0)
    for f in findings:
        print(f"  {f.status:<10}  {f.field:<{width}}  {f.detail}")


def _print_scenarios(
    target: Target,
    scenarios: Sequence[ScenarioNeeds],
    findings: Sequence[Finding],
    *,
    has_database: bool,
    handles: bool = False,
) -> int:
    """One line per scenario; returns how many can run.

    ``handles``: the backend acts through fault handles (external): a scenario whose faults (the
    catalogue's list, ``harness.catalog.faults``) act through the handles of services of a role is
    unknown when one of them has no handle, or a broken one.
    """
    status = {f.field: f for f in findings}
    print("scenarios:")
    runnable = 0
    for s in scenarios:
        missing = unmet(target, s.needs, has_database=has_database)
        broken = [
            f"{n} is broken ({status[n].detail})"
            for n in s.needs
            if n in status and status[n].status == "broken"
        ]
        if handles:
            missing += [f"{h}: {why}" for h in s.handles if (why := missing_handles(target, h))]
            broken += [
                f"{f.field} is broken ({f.detail})"
                for f in findings
                if f.field.startswith("services.") and f.field.endswith(".handle") and f.status == "broken"
                and _roles_of(target, f.field) & {h.removeprefix("handles.") for h in s.handles}
            ]  # fmt: skip
        unverified = [n for n in s.needs if n in status and status[n].status == "unverified"]
        if missing or broken:
            print(f"  {s.id:<13} unknown: {'; '.join([*missing, *broken])}")
            continue
        core_open, findings_, secondary_open = _checks_outlook(target, s.id, has_database=has_database)
        if core_open:
            print(f"  {s.id:<13} unknown: core check {core_open[0]}")
            continue
        runnable += 1
        note = f" (not shown by the check's quiet batch: {', '.join(unverified)})" if unverified else ""
        extra = "".join(f"; will fail: {f}" for f in findings_)
        if secondary_open:
            extra += f"; {len(secondary_open)} secondary check(s) undecided: {', '.join(secondary_open)}"
        print(f"  {s.id:<13} can run{note}{extra}")
    return runnable


def _checks_outlook(
    target: Target, scenario_id: str, *, has_database: bool
) -> tuple[list[str], list[str], list[str]]:
    """From the file alone: core checks that cannot decide, declared-absent findings, secondary gaps."""
    from harness.catalog.checks import checks_of
    from harness.target.absence import declared_absent

    core_open: list[str] = []
    findings: list[str] = []
    secondary_open: list[str] = []
    for check in checks_of(scenario_id).checks:
        absent = [r for r in check.requires if declared_absent(target, r)]
        if absent:
            findings.append(f"{check.name} (the target declares no {absent[0]})")
            continue
        lacking = unmet(target, [*check.reads, *check.requires], has_database=has_database)
        if lacking:
            (core_open if check.core else secondary_open).append(
                f"{check.name}: {lacking[0]}" if check.core else check.name
            )
    return core_open, findings, secondary_open


def _roles_of(target: Target, field: str) -> set[str]:
    """The ``handles.<x>`` needs that ``services.<name>.handle`` serves (a db or broker: queue_store too)."""
    name = field.removeprefix("services.").removesuffix(".handle")
    role = str(target.services[name].role) if name in target.services else ""
    return {role, "queue_store"} if role in ("db", "broker") else {role}
