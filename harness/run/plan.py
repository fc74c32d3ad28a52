"""Everything ``chaos-audit run`` decides before starting anything: the validated plan of the audit.

Every user error (a wrong field in the target file, an unknown defect, an unknown scenario id, a
report directory that is a file, ``--jobs`` above 1 on a stack the harness does not own) is found
here and raised as a ConfigError naming the option or field, so the CLI exits 2 with nothing
started, no process spawned and no file written.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import catalog
from harness.errors import ConfigError
from harness.options import report_dir_of, seed_of
from harness.run.jobs import resolve_jobs
from harness.target.load import load_target
from harness.target.model import Target

DEFAULT_REPORT_DIR = "chaos-report"
DEFAULT_FAIL_ON = "high"
SCENARIOS_PACKAGE = "chaos_audit_scenarios"
SCENARIOS_ENV = "CHAOS_AUDIT_SCENARIOS"
_ID_IN_SOURCE = re.compile(r"""\bid\s*=\s*["'](TEST-[A-Z0-9-]+)["']""")


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """A validated audit request; ``target_arg`` is the ``--target`` as typed (for the reproduce line)."""

    target: Target
    target_file: str | None
    target_arg: str | None
    backend: str
    only: tuple[str, ...]
    defects: tuple[str, ...]
    seed: int
    report_dir: Path
    report_dir_arg: str
    fail_on: str
    quiet: bool
    scenarios_dir: Path
    min_decided: float = 0.5
    #: scenarios side by side, each on its own stack (1: one at a time, in one pytest child)
    jobs: int = 1
    #: the scenarios came from ``$CHAOS_AUDIT_SCENARIOS`` (the reproduce line must set it too)
    scenarios_from_env: bool = False

    def command(self) -> str:
        """The command line that reproduces this audit (seed included), from the directory it ran in.

        Paths are written as typed: a relative ``--target`` or ``--report-dir`` is relative to the
        directory the user ran the audit in, where the line is meant to be run again (and where a
        report in CI is read back). An environment the run depended on comes first.
        """
        env = [f"{SCENARIOS_ENV}={shlex.quote(str(self.scenarios_dir))}"] if self.scenarios_from_env else []
        argv = ["chaos-audit", "run"]
        if self.target_arg:
            argv += ["--target", self.target_arg]
        if self.backend != "local":
            argv += ["--backend", self.backend]
        if self.only:
            argv += ["--only", ",".join(self.only)]
        if self.defects:
            argv += ["--defect", ",".join(self.defects)]
        argv += ["--seed", str(self.seed)]
        if self.fail_on != DEFAULT_FAIL_ON:
            argv += ["--fail-on", self.fail_on]
        if self.min_decided != 0.5:
            argv += ["--min-decided", f"{self.min_decided:g}"]
        if self.report_dir_arg != DEFAULT_REPORT_DIR:
            argv += ["--report-dir", self.report_dir_arg]
        return " ".join([*env, shlex.join(argv)])


def scenarios_dir() -> Path:
    """Where the scenarios are: the installed package (any working directory), or ``$CHAOS_AUDIT_SCENARIOS``.

    The variable points the command at another folder of scenario modules (the harness's own tests
    use it to drive the whole command with scenarios that need no stack).
    """
    override = os.environ.get(SCENARIOS_ENV)
    if override:
        path = Path(override).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(f"{SCENARIOS_ENV}: {path} is not a directory", field=SCENARIOS_ENV)
        return path
    spec = importlib.util.find_spec(SCENARIOS_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ConfigError(
            f"the scenarios package {SCENARIOS_PACKAGE!r} is not installed; "
            "reinstall chaos-audit (pip install .)",
            field="scenarios",
        )
    return Path(locations[0])


def built_ids(directory: Path) -> set[str]:
    """Audit ids that scenario modules in ``directory`` declare (a cheap scan; nothing is imported)."""
    return {i for ids in _declared(directory).values() for i in ids}


def modules_of(directory: Path, ids: Sequence[str]) -> list[Path] | None:
    """The scenario modules in ``directory`` that declare ``ids``, in file order; ``None`` when an id
    is declared by none (then the whole folder is collected and the run reports it as it always has).

    A pytest child given only these imports and collects nothing else: collecting every module took
    about 0.5 s of CPU per child, and a matrix starts one child per defect row.
    """
    declared = _declared(directory)
    wanted = {i.upper() for i in ids}
    if not wanted <= {i for found in declared.values() for i in found}:
        return None
    return [path for path, found in declared.items() if wanted & found]


def _declared(directory: Path) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in sorted(directory.glob("test_*.py")):
        try:
            found[path] = set(_ID_IN_SOURCE.findall(path.read_text(errors="replace")))
        except OSError:
            continue
    return found


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in (text or "").split(",") if p.strip()))


def _validate_only(only: tuple[str, ...], directory: Path) -> tuple[str, ...]:
    wanted = tuple(i.upper() for i in only)
    known = set(catalog.BY_ID) | built_ids(directory)
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise ConfigError(
            f"--only: unknown scenario id(s) {', '.join(unknown)}; known ids: {', '.join(sorted(known))}",
            field="--only",
        )
    return wanted


def _validate_defects(defects: tuple[str, ...], target: Target, is_reference: bool) -> None:
    if not defects:
        return
    if target.defects is None:
        raise ConfigError(
            f"--defect: target {target.name!r} has no 'defects' section, "
            "so it cannot be switched into a defect",
            field="--defect",
        )
    names = set(target.defects.names)
    if not names and is_reference:
        try:  # the reference target knows its defects even when its file does not list them
            names = set(getattr(importlib.import_module("reftarget.defects"), "DEFECTS", {}))
        except ImportError:
            names = set()
    unknown = [d for d in defects if names and d not in names]
    if unknown:
        raise ConfigError(
            f"--defect: unknown defect(s) {', '.join(unknown)} of target {target.name!r}; "
            f"known: {', '.join(sorted(names))}",
            field="--defect",
        )


def build_plan(args: argparse.Namespace) -> RunPlan:
    """Validate the command line and the target file; raises ConfigError (exit 2) on any problem."""
    target, path = load_target(args.target)
    is_reference = args.target is None or args.target == "reference"
    directory = scenarios_dir()
    only = _validate_only(_split(args.only), directory)
    defects = _split(args.defect)
    from harness.stack.backends import get_backend

    get_backend(args.backend).check_defects(defects)
    _validate_defects(defects, target, is_reference)
    report_dir = report_dir_of(args)
    seed = seed_of(args)
    ids = only or tuple(sorted(built_ids(directory)))
    jobs = resolve_jobs(getattr(args, "jobs", 1), backend=args.backend, target=target, ids=ids)
    return RunPlan(
        target=target,
        target_file=None if is_reference else str(path.resolve()),
        target_arg=None if is_reference else args.target,
        backend=args.backend,
        only=only,
        defects=defects,
        seed=seed,
        report_dir=report_dir,
        report_dir_arg=args.report_dir,
        fail_on=args.fail_on,
        min_decided=getattr(args, "min_decided", 0.5),
        quiet=args.quiet,
        jobs=jobs,
        scenarios_dir=directory,
        scenarios_from_env=bool(os.environ.get(SCENARIOS_ENV)),
    )
