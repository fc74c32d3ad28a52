"""``chaos-audit explore``: random fault schedules under load until a check fails, then shrink it.

Order of things, as ``run``: validate every option (exit 2 naming it, nothing started), print the
seed, start the stack (and the load), run rounds until ``--duration`` is spent or a check fails.
On a violation the load stops, the failing round is replayed on fresh stacks and shrunk, the
minimal schedule is saved as a ``chaos-audit session --script`` file, and the report (same files
as ``run``) shows it. Exit codes: 0 nothing found, 1 a violation, 2 bad usage, 3 incomplete
(interrupted, or the stack could not start).
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import options
from harness.errors import ConfigError, HarnessError
from harness.explore.nemesis import CATEGORIES
from harness.explore.shrinker import DEFAULT_BUDGET
from harness.options import report_dir_of, seed_of
from harness.target.model import Target

DEFAULT_REPORT_DIR = "chaos-explore"
DEFAULT_DURATION = "10m"
DEFAULT_LOAD = 2.0
DEFAULT_ROUND = "15s"
REPRODUCER_FILE = "reproducer.txt"
EXIT_OK, EXIT_VIOLATION, EXIT_INCOMPLETE = 0, 1, 3

_Say = Callable[[str], None]


def configure(parser: argparse.ArgumentParser) -> None:
    options.add_target(parser)
    options.add_backend(parser)
    parser.add_argument("--duration", default=DEFAULT_DURATION, help="how long to explore (default 10m)")
    options.add_seed(parser)
    parser.add_argument(
        "--faults",
        default=",".join(CATEGORIES),
        metavar="KIND[,KIND...]",
        help=f"fault categories to draw from (default: all of {','.join(CATEGORIES)})",
    )
    parser.add_argument(
        "--load",
        default=DEFAULT_LOAD,
        type=float,
        metavar="RATE",
        help=f"Locust load in requests/s while exploring (default {DEFAULT_LOAD:g}; 0: none)",
    )
    parser.add_argument(
        "--load-workers",
        default=0,
        type=int,
        metavar="N",
        help="run the load in Locust's distributed mode: a master and N worker processes",
    )
    options.add_defect(parser)
    options.add_report_dir(parser, DEFAULT_REPORT_DIR)
    parser.add_argument(
        "--round", default=DEFAULT_ROUND, metavar="DURATION", help="length of one round (default 15s)"
    )
    parser.add_argument(
        "--shrink-budget",
        default=DEFAULT_BUDGET,
        type=int,
        metavar="N",
        help=f"at most N replays while shrinking (default {DEFAULT_BUDGET})",
    )


@dataclass(frozen=True, kw_only=True)
class ExplorePlan:
    """A validated exploration request."""

    target: Target
    target_file: str | None
    backend: str
    duration_s: float
    round_s: float
    seed: int
    kinds: tuple[str, ...]
    load: float
    load_workers: int
    defects: tuple[str, ...]
    report_dir: Path
    shrink_budget: int

    def command(self) -> str:
        argv = ["chaos-audit", "explore", "--seed", str(self.seed), "--duration", f"{self.duration_s:g}s"]
        if self.target_file:
            argv += ["--target", self.target_file]
        if self.backend != "local":
            argv += ["--backend", self.backend]
        if self.kinds != CATEGORIES:
            argv += ["--faults", ",".join(self.kinds)]
        argv += ["--load", f"{self.load:g}"] + (
            ["--load-workers", str(self.load_workers)] if self.load_workers else []
        )
        if self.defects:
            argv += ["--defect", ",".join(self.defects)]
        return shlex.join(argv)


def build_plan(args: argparse.Namespace) -> ExplorePlan:
    """Validate the command line; a ConfigError (exit 2) names the option, nothing is started."""
    from harness.run.plan import _split, _validate_defects
    from harness.session.grammar import CommandError, parse_duration
    from harness.stack.backends import get_backend
    from harness.target.load import load_target

    def duration(option: str, text: str, minimum: float) -> float:
        try:
            value = parse_duration(text)
        except CommandError as exc:
            raise ConfigError(f"{option}: {exc}", field=option) from None
        if value < minimum:
            raise ConfigError(f"{option}: {text} is too short (at least {minimum:g}s)", field=option)
        return value

    duration_s = duration("--duration", args.duration, 1.0)
    round_s = duration("--round", args.round, 2.0)
    kinds = _split(args.faults)
    unknown = [k for k in kinds if k not in CATEGORIES]
    if unknown or not kinds:
        raise ConfigError(
            f"--faults: unknown kind(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(CATEGORIES)}",
            field="--faults",
        )
    if args.load < 0:
        raise ConfigError(f"--load: {args.load:g} requests/s; expected 0 or more", field="--load")
    if args.load_workers < 0:
        raise ConfigError(f"--load-workers: {args.load_workers}; expected 0 or more", field="--load-workers")
    if args.load_workers and not args.load:
        raise ConfigError("--load-workers needs --load RATE above 0", field="--load-workers")
    if args.load and importlib.util.find_spec("locust") is None:
        raise ConfigError("--load: locust is not installed (pip install locust, or --load 0)", field="--load")
    if args.shrink_budget < 0:
        raise ConfigError(
            f"--shrink-budget: {args.shrink_budget}; expected 0 or more", field="--shrink-budget"
        )
    target, path = load_target(args.target)
    is_reference = args.target is None or args.target == "reference"
    defects = _split(args.defect)
    _validate_defects(defects, target, is_reference)
    get_backend(args.backend).check_defects(defects)
    report_dir = report_dir_of(args)
    seed = seed_of(args)
    return ExplorePlan(
        target=target,
        target_file=None if is_reference else str(path.resolve()),
        backend=args.backend,
        duration_s=duration_s,
        round_s=round_s,
        seed=seed,
        kinds=kinds,
        load=float(args.load),
        load_workers=int(args.load_workers),
        defects=defects,
        report_dir=report_dir,
        shrink_budget=int(args.shrink_budget),
    )


def main(args: argparse.Namespace) -> int:
    from harness.explore.explorer import Explorer
    from harness.process.signals import heal_on_interrupt
    from harness.session.command import SESSION_SIGNALS

    plan = build_plan(args)
    say = _printer()
    load = f"{plan.load:g} req/s" + (f" ({plan.load_workers} Locust workers)" if plan.load_workers else "")
    say(
        f"chaos-audit explore: target {plan.target.name}, backend {plan.backend}, seed {plan.seed}, "
        f"duration {plan.duration_s:g}s, faults {','.join(plan.kinds)}, load {load or 'none'}"
        + (f", defect {','.join(plan.defects)}" if plan.defects else "")
    )
    explorer = Explorer(plan, say)
    with heal_on_interrupt(SESSION_SIGNALS):
        try:
            outcome = explorer.run()
        except KeyboardInterrupt as exc:
            say(f"chaos-audit explore: {exc or 'interrupted'}; healed and stopped")
            explorer.write_report(interrupted=True)
            return EXIT_INCOMPLETE
        except HarnessError as exc:
            say(f"chaos-audit explore: error: {exc}")
            explorer.write_report(interrupted=True)
            return EXIT_INCOMPLETE
    return EXIT_VIOLATION if outcome else EXIT_OK


def _printer() -> _Say:
    def say(text: str) -> None:
        print(text, flush=True)

    return say


def evidence_lines(evidence: dict[str, Any]) -> list[str]:
    """The outcome for the console, one fact per line."""
    keys = (
        "check",
        "time_to_find_s",
        "round",
        "faults_found",
        "faults_minimal",
        "shrink_replays",
        "reproducer",
    )
    return [f"  {k}: {evidence[k]}" for k in keys if k in evidence]
