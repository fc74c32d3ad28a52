"""``chaos-audit matrix``: run the audit against the correct target and against each defect.

Writes ``DIR/matrix.json`` and ``DIR/matrix.html`` (defects x scenarios), and keeps each run's
``run.json`` and ``pytest.log`` under ``DIR/correct`` and ``DIR/defects/<name>`` for diagnosis.
``--jobs N`` runs the correct target's scenarios N side by side (as ``chaos-audit run --jobs``
does), then N defect rows side by side, each on its own stack (:mod:`harness.matrix.rows`); the
verdicts, files and printed lines (in the plan's order) are the serial matrix's.
Exit codes: 0 every defect detected and no false positive, 1 otherwise, 2 bad usage, 3 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness import options
from harness.cli import EXIT_GATE_FAILED, EXIT_INCOMPLETE, EXIT_OK
from harness.errors import ConfigError


def configure(parser: argparse.ArgumentParser) -> None:
    options.add_target(parser, text="a target file with defects.caught_by (default: reference)")
    options.add_report_dir(parser, "chaos-matrix")
    parser.add_argument("--defects", default=None, metavar="NAME[,NAME...]", help="only these defects")
    options.add_seed(parser)
    parser.add_argument("--skip-correct", action="store_true", help="do not run the correct target first")
    parser.add_argument(
        "--jobs",
        default=None,
        type=int,
        metavar="N",
        help="defect rows (and the correct target's scenarios) side by side, each on its own stack "
        "(default: from the cores and the scenarios' weight)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the outcome")


def main(args: argparse.Namespace) -> int:
    from harness.matrix.html import write_html
    from harness.matrix.model import Matrix, Row, defect_plan
    from harness.matrix.rows import RowRun, expected_seconds, run_rows
    from harness.run.child import ChildOutcome, run_child
    from harness.run.command import read_run_json
    from harness.run.console import InOrder
    from harness.run.jobs import resolve_jobs
    from harness.run.plan import build_plan, built_ids, scenarios_dir
    from harness.run.pool import run_parallel
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
    every_id = sorted(built_ids(scenarios_dir()) | {i for ids in plan_by_defect.values() for i in ids})
    jobs = resolve_jobs(getattr(args, "jobs", None), backend="local", target=target, ids=every_id)
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
        jobs=1,
    )
    base = build_plan(run_args)
    say = _printer(args.quiet)
    side_by_side = f", {jobs} side by side" if jobs > 1 else ""
    say(
        f"chaos-audit matrix: target {target.name}, seed {base.seed}, "
        f"{len(plan_by_defect)} defect(s){side_by_side} -> {report_dir}"
    )
    correct: dict[str, str] = {}
    undeclared: dict[str, set[str]] = {}
    rows: list[Row] = []
    interrupted = False

    def verdicts_of(plan_dir: Path) -> dict[str, str] | None:
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
        (report_dir / "correct").mkdir(parents=True, exist_ok=True)
        plan = dataclasses.replace(base, jobs=jobs)
        outcome = (run_parallel if jobs > 1 else run_child)(plan, lambda event: None)
        interrupted = outcome.interrupted
        correct = verdicts_of(report_dir / "correct") or {}
        bad = sorted(i for i, v in correct.items() if v != "pass")
        not_passing = f"; not passing: {', '.join(bad)}" if bad else ""
        elapsed = time.monotonic() - t0
        say(f"  correct target: {len(correct) - len(bad)}/{len(correct)} pass{not_passing} [{elapsed:.1f} s]")
    by_defect: dict[str, Row] = {}
    in_order = InOrder(list(plan_by_defect))

    def row_done(run: RowRun, outcome: ChildOutcome, seconds: float) -> None:
        ids = plan_by_defect[run.key]
        verdicts = verdicts_of(run.plan.report_dir)
        error = "" if verdicts is not None else "the run did not complete (see pytest.log)"
        by_defect[run.key] = Row(defect=run.key, expected=ids, verdicts=verdicts or {}, error=error)
        for key, secs in in_order.add(run.key, (run.key, seconds)):
            show(key, secs)

    def show(key: str, seconds: float) -> None:
        row = by_defect[key]
        mark = "detected" if row.detected else "NOT DETECTED"
        shown = ", ".join(f"{i} {row.verdicts.get(i, 'not run')}" for i in row.expected)
        say(f"  {key}: {shown} -> {mark} [{seconds:.1f} s]")

    if not interrupted:
        todo = [
            RowRun(
                key=defect,
                plan=dataclasses.replace(
                    base, report_dir=report_dir / "defects" / defect, only=tuple(ids), defects=(defect,)
                ),
                seconds=expected_seconds(report_dir / "defects" / defect, ids),
            )
            for defect, ids in plan_by_defect.items()
        ]
        interrupted = run_rows(todo, jobs, row_done)
        for key, secs in in_order.rest():  # rows behind one that never ran (interrupted)
            show(key, secs)
    rows = [by_defect[d] for d in plan_by_defect if d in by_defect]
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
