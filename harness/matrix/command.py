"""``chaos-audit matrix``: run the audit against the correct target and against each defect.

Writes ``DIR/matrix.json`` and ``DIR/matrix.html`` (defects x scenarios), and keeps each run's
``run.json`` and ``pytest.log`` under ``DIR/correct`` and ``DIR/defects/<name>`` for diagnosis.
Exit codes: 0 every defect detected and no false positive, 1 otherwise, 2 bad usage, 3 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.cli import EXIT_GATE_FAILED, EXIT_INCOMPLETE, EXIT_OK
from harness.errors import ConfigError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        default=None,
        metavar="FILE",
        help="a target file with defects.caught_by (default: reference)",
    )
    parser.add_argument("--report-dir", default="chaos-matrix", metavar="DIR", help="default: ./chaos-matrix")
    parser.add_argument("--defects", default=None, metavar="NAME[,NAME...]", help="only these defects")
    parser.add_argument("--seed", default=None, type=int, help="seed of all randomness (default: random)")
    parser.add_argument("--skip-correct", action="store_true", help="do not run the correct target first")
    parser.add_argument("--quiet", action="store_true", help="print only the outcome")


def main(args: argparse.Namespace) -> int:
    from harness.matrix.html import write_html
    from harness.matrix.model import Matrix, Row, defect_plan
    from harness.run.child import run_child
    from harness.run.command import read_run_json
    from harness.run.plan import build_plan
    from harness.target.load import load_target

    wanted = [d.strip() for d in (args.defects or "").split(",") if d.strip()]
    is_reference = args.target in (None, "reference")
    target, _ = load_target(args.target)
    caught_by = target.defects.caught_by if target.defects is not None else {}
    if not is_reference and not caught_by:
        raise ConfigError(
            f"--target: {args.target} has no defects.caught_by: name the scenarios each of its defects "
            "must fail (see README, 'Pointing it at your own stack')",
            field="defects.caught_by",
        )
    plan_by_defect = defect_plan(wanted or None, caught_by)
    unknown = [d for d, ids in plan_by_defect.items() if not ids]
    if unknown:
        where = "the target's defects.caught_by" if caught_by else "the catalogue"
        raise ConfigError(f"--defects: no scenario of {where} names {', '.join(unknown)}", field="--defects")
    _validate_ids(plan_by_defect)
    report_dir = Path(args.report_dir).expanduser().resolve()
    run_args = argparse.Namespace(
        target=args.target,
        backend="local",
        only=None,
        defect=None,
        seed=args.seed,
        report_dir=str(report_dir / "correct"),
        fail_on="high",
        quiet=True,
    )
    base = build_plan(run_args)
    say = _printer(args.quiet)
    say(
        f"chaos-audit matrix: target {target.name}, seed {base.seed}, "
        f"{len(plan_by_defect)} defect(s) -> {report_dir}"
    )
    correct: dict[str, str] = {}
    undeclared: dict[str, set[str]] = {}
    rows: list[Row] = []
    interrupted = False

    def run(plan_dir: Path, only: Sequence[str], defects: Sequence[str]) -> dict[str, str] | None:
        nonlocal interrupted
        plan_dir.mkdir(parents=True, exist_ok=True)
        plan = dataclasses.replace(base, report_dir=plan_dir, only=tuple(only), defects=tuple(defects))
        outcome = run_child(plan, lambda event: None)
        interrupted = interrupted or outcome.interrupted
        record = read_run_json(plan_dir / "run.json")
        if record is None:
            return None
        for s in record.get("scenarios", []):
            if s.get("undeclared_use"):
                undeclared.setdefault(str(s["id"]), set()).update(s["undeclared_use"])
        return {str(s["id"]): str(s["verdict"]) for s in record.get("scenarios", [])}

    started = time.monotonic()
    if not args.skip_correct:
        t0 = time.monotonic()
        correct = run(report_dir / "correct", (), ()) or {}
        bad = sorted(i for i, v in correct.items() if v != "pass")
        not_passing = f"; not passing: {', '.join(bad)}" if bad else ""
        elapsed = time.monotonic() - t0
        say(f"  correct target: {len(correct) - len(bad)}/{len(correct)} pass{not_passing} [{elapsed:.1f} s]")
    for defect, ids in plan_by_defect.items():
        if interrupted:
            break
        t0 = time.monotonic()
        verdicts = run(report_dir / "defects" / defect, ids, (defect,))
        error = "" if verdicts is not None else "the run did not complete (see pytest.log)"
        row = Row(defect=defect, expected=ids, verdicts=verdicts or {}, error=error)
        rows.append(row)
        mark = "detected" if row.detected else "NOT DETECTED"
        shown = ", ".join(f"{i} {row.verdicts.get(i, 'not run')}" for i in ids)
        say(f"  {defect}: {shown} -> {mark} [{time.monotonic() - t0:.1f} s]")
    matrix = Matrix(
        correct=correct,
        rows=tuple(rows),
        seed=base.seed,
        unknown_allowed=not is_reference,
        target=target.name,
        undeclared={i: tuple(sorted(v)) for i, v in undeclared.items()},
    )
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "matrix.json").write_text(json.dumps(matrix.to_json(), indent=2))
    write_html(matrix, report_dir / "matrix.html")
    for line in matrix.problems():
        print(f"chaos-audit matrix: {line}", file=sys.stderr)
    print(
        f"chaos-audit matrix: {sum(r.detected for r in rows)}/{len(rows)} defects detected, "
        f"{len(matrix.false_positives)} false positive(s) in {time.monotonic() - started:.0f} s; "
        f"{report_dir / 'matrix.json'}"
    )
    if interrupted:
        return EXIT_INCOMPLETE
    complete = args.skip_correct or bool(correct)
    return EXIT_OK if complete and not matrix.problems() else EXIT_GATE_FAILED


def _validate_ids(plan_by_defect: dict[str, tuple[str, ...]]) -> None:
    from harness import catalog
    from harness.run.plan import built_ids, scenarios_dir

    known = set(catalog.BY_ID) | built_ids(scenarios_dir())
    for defect, ids in plan_by_defect.items():
        strangers = [i for i in ids if i not in known]
        if strangers:
            raise ConfigError(
                f"defects.caught_by.{defect}: unknown scenario id(s) {', '.join(strangers)}",
                field=f"defects.caught_by.{defect}",
            )


def _printer(quiet: bool) -> Callable[[str], None]:
    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    return say
