"""By hand: audit every scenario against the reference target run as an independent staging stack.

    python tests/integration/external/measure.py [--only IDS] [--defects all|NAME,...] [--out DIR]
                                                  [--timing KEY=VALUE,...]

The stack (``independent.py``) keeps its own realistic settings, which the harness cannot change:
provider timeout 30 s, batch deadline 30 s, lease 1 s (``TIMING``). The run prints each scenario's
verdict and reason, then ``decided`` (pass + fail) and ``false fails`` (every fail: the stack is
correct). With ``--defects``, the same stack is restarted with ``REFTARGET_DEFECTS=<name>`` per
defect, and the scenarios the catalogue names for it are audited: the defect is caught when every
one of them fails (as ``chaos-audit matrix`` counts it). ``DIR/measure.json`` keeps the figures.
``--timing`` runs the stack with other settings (``provider_timeout_s=5,batch_deadline_s=15``).
It takes long (tens of minutes for the whole sweep): it is a measurement, not part of the suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from independent import TIMING, IndependentStack

from harness.catalog.scenarios import ENTRIES, ids_catching


def audit_correct(stack: IndependentStack, only: str, out: Path) -> dict[str, tuple[str, str]]:
    started = time.monotonic()
    results = stack.audit_with_reasons(only, out / "correct", timeout=4 * 3600)
    took = time.monotonic() - started
    print(f"\n== the correct stack ({took:.0f} s)")
    for sid, (verdict, reason) in sorted(results.items()):
        print(f"{verdict.upper():8} {sid:14} {reason[:160] if verdict != 'pass' else ''}")
    counts = {v: sum(1 for x, _ in results.values() if x == v) for v in ("pass", "fail", "unknown")}
    decided = counts["pass"] + counts["fail"]
    print(f"{len(results)} scenarios: {counts}; decided {decided}; false fails {counts['fail']}")
    return results


def sweep_defects(stack: IndependentStack, names: list[str], out: Path) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    missed: list[str] = []
    for name in names:
        expected = ids_catching(name)
        stack.restart_app(defects=name)
        verdicts = stack.audit(",".join(expected), out / f"defect-{name}", timeout=3600)
        caught = all(verdicts.get(sid) == "fail" for sid in expected)  # a run that ran none: missed
        rows[name] = verdicts
        if not caught:
            missed.append(name)
        print(f"{'CAUGHT' if caught else 'MISSED':7} {name:28} {verdicts}", flush=True)
    stack.restart_app(defects="")
    print(f"defects caught on the external stack: {len(rows) - len(missed)}/{len(rows)}; missed: {missed}")
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated scenario ids (default: all)")
    parser.add_argument("--defects", default="", help="'all' or comma-separated defect names to sweep")
    parser.add_argument("--no-correct", action="store_true", help="skip the audit of the correct stack")
    parser.add_argument("--out", type=Path, default=None, help="where the reports go (default: a temp dir)")
    parser.add_argument(
        "--timing", default="", help="the stack's settings instead of TIMING's: KEY=VALUE,..."
    )
    args = parser.parse_args(argv)
    timing = dict(TIMING)
    for pair in filter(None, args.timing.split(",")):
        key, _, value = pair.partition("=")
        if key not in TIMING or not value:
            print(f"--timing: {pair!r}: expected KEY=VALUE with KEY one of {sorted(TIMING)}", file=sys.stderr)
            return 2
        timing[key] = int(value) if isinstance(TIMING[key], int) else float(value)
    out = args.out or Path(tempfile.mkdtemp(prefix="chaos-audit-measure-"))
    known = sorted({d for e in ENTRIES for d in e.defects})
    names = known if args.defects == "all" else [d for d in args.defects.split(",") if d]
    bad = sorted(set(names) - set(known))
    if bad:
        print(f"--defects: unknown {bad}; known: {known}", file=sys.stderr)
        return 2
    print(f"stack timing: {timing}; reports in {out}", flush=True)
    stack = IndependentStack(out / "stack", timing=timing)
    record: dict[str, object] = {"timing": timing}
    try:
        stack.up()
        if not args.no_correct:
            results = audit_correct(stack, args.only, out)
            record["correct"] = {k: {"verdict": v, "reason": r} for k, (v, r) in results.items()}
        if names:
            record["defects"] = sweep_defects(stack, names, out)
    finally:
        stack.close()
        (out / "measure.json").write_text(json.dumps(record, indent=2))
    print(f"figures: {out / 'measure.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
