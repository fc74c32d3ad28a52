"""Benchmark of the whole audit against the embedded reference target (a script, not a test).

    python tests/benchmarks/audit_bench.py             # cold start + the audit, serial and parallel
    python tests/benchmarks/audit_bench.py --matrix    # ... and the detection matrix, serial and parallel
    python tests/benchmarks/audit_bench.py --from DIR  # only analyse an existing report dir

The audit runs twice in the same invocation, ``--jobs 1`` then the default ``--jobs`` (from the
idle cores and the scenarios' weight; ``--jobs N`` here to force one), and the script prints both
wall times, their ratio and whether the verdicts agree; ``--matrix`` does the same for ``chaos-audit matrix`` (about 10 minutes more).
Nothing is asserted: run it by hand on a quiet machine (another process's load skews the ratio).

The serial run's CPU is summed by process kind (``cpu_use.py``): divided by the cores, it is a floor
for the parallel audit's wall time that no scheduling beats.

Prints the stack's cold start and per-scenario reset (measured here), the wall time of the whole
audit and of each scenario, and the part of each that is inherent waiting: the timers a scenario
must wait out by design (a lease expiring, a batch deadline, provider timeouts x attempts). The
rest is overhead (process starts, polling, HTTP) and is what optimisation can remove. The inherent
floors below are derived from each scenario's code and the target's timing (reference.yaml plus
the scenario's own overrides); they are estimates of a floor, not measurements.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cpu_use import CpuByKind  # this directory (run as a script)

#: scenario id -> (inherent wait in seconds, why)
INHERENT: dict[str, tuple[float, str]] = {
    "TEST-RR-003": (0.3, "the client's own 0.3 s give-up timeout"),
    "TEST-RR-005": (5.0, "the 5 s batch deadline that produces the timeout state"),
    "TEST-RR-006": (1.0, "worker-1's lease (1 s) must expire before worker-2 takes over"),
    "TEST-RR-008": (0.2, "automatic retries' exponential backoff for 3 items"),
    "TEST-RR-T01": (3.0, "3 attempts x the 1 s provider timeout"),
    "TEST-RR-T02": (3.0, "the 3 s batch deadline"),
    "TEST-RR-P02": (1.0, "breaker cooldowns (0.5 s) before the half-open probes"),
    "TEST-RR-RE01": (1.0, "the killed worker's lease (1 s) expiring"),
    "TEST-RR-RE02": (0.6, "300 ms latency on the API's database link, twice"),
    "TEST-RR-Q02": (1.0, "the visibility timeout (lease, 1 s) before redelivery"),
    "TEST-RR-S01": (5.0, "a lease expiry plus 2 attempts x the 2 s provider timeout"),
    "TEST-RR-S02": (5.0, "the same failure modes as S01"),
    "TEST-RR-O01": (4.0, "2 attempts x the 2 s provider timeout for the timeout mode"),
    "TEST-RR-Q03": (0.0, "none, but throughput-bound: 1,200 jobs drain through 2 workers"),
}


def measure_stack() -> tuple[float, float, float]:
    """(cold start of the whole stack, per-scenario reset, stop) in seconds, measured once."""
    from harness.stack.infra import LocalInfra
    from harness.stack.local import LocalStack
    from harness.target.load import load_target

    target, _ = load_target(None)
    t0 = time.monotonic()
    infra = LocalInfra()
    infra.start()
    stack = LocalStack(infra, target)
    stack.start()
    cold = time.monotonic() - t0
    t1 = time.monotonic()
    stack.close()
    second = LocalStack(infra, target)
    second.start()
    reset = time.monotonic() - t1
    t2 = time.monotonic()
    second.close()
    infra.close()
    return cold, reset, time.monotonic() - t2


def run_audit(report_dir: Path, jobs: int | None = None) -> float:
    t0 = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "--report-dir",
            str(report_dir),
            "--quiet",
            "--seed",
            "1",
            *(["--jobs", str(jobs)] if jobs is not None else []),
        ],
        check=False,
    )
    return time.monotonic() - t0


def run_matrix(report_dir: Path, jobs: int | None = None) -> float:
    t0 = time.monotonic()
    argv = [sys.executable, "-m", "harness.cli", "matrix", "--report-dir", str(report_dir), "--quiet"]
    subprocess.run([*argv, "--seed", "1", *(["--jobs", str(jobs)] if jobs is not None else [])], check=False)
    return time.monotonic() - t0


def verdicts(path: Path) -> dict[str, str]:
    """Scenario id -> verdict of an audit.json, or defect -> detected of a matrix.json."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if "rows" in data:
        return {r["defect"]: str(r["detected"]) for r in data["rows"]} | {
            f"correct {k}": v for k, v in data["correct"].items()
        }
    return {s["id"]: s["verdict"] for s in data["scenarios"]}


def compare(what: str, serial: tuple[float, Path], parallel: tuple[float, Path], jobs: int) -> None:
    """Print the two wall times, the ratio, and whether the verdicts agree."""
    (s_wall, s_file), (p_wall, p_file) = serial, parallel
    same = verdicts(s_file) == verdicts(p_file) and bool(verdicts(s_file))
    print(
        f"{what}: serial (--jobs 1) {s_wall:.1f} s, parallel (--jobs {jobs}) {p_wall:.1f} s, "
        f"{s_wall / max(p_wall, 1e-9):.2f}x faster; verdicts {'identical' if same else 'DIFFER'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--from", dest="from_dir", default=None, help="analyse this report dir instead of running"
    )
    parser.add_argument("--matrix", action="store_true", help="also time the matrix, serial and parallel")
    parser.add_argument(
        "--jobs", type=int, default=None, help="jobs of the parallel runs (default: the command's default)"
    )
    args = parser.parse_args()
    summary: list[tuple[str, tuple[float, Path], tuple[float, Path]]] = []
    jobs = args.jobs or default_parallel_jobs()
    if args.from_dir:
        report_dir, wall = Path(args.from_dir), None
    else:
        cold, reset, stop = measure_stack()
        print(f"stack cold start (PostgreSQL, proxy, provider, API, 2 workers, all ready): {cold:.2f} s")
        print(f"stack reset between scenarios (teardown + fresh database + services): {reset:.2f} s")
        print(f"stack stop: {stop:.2f} s\n")
        root = Path(tempfile.mkdtemp(prefix="chaos-audit-bench-"))
        report_dir = root / "serial"
        with CpuByKind() as cpu:
            wall = run_audit(report_dir, jobs=1)
        print(f"CPU of the serial audit, by process kind:\n{cpu.table(wall)}\n")
        parallel = root / "parallel"
        summary.append(
            ("audit", (wall, report_dir / "audit.json"), (run_audit(parallel, jobs), parallel / "audit.json"))
        )
        if args.matrix:
            m_serial, m_parallel = root / "matrix-serial", root / "matrix-parallel"
            serial_wall = run_matrix(m_serial, jobs=1)
            summary.append(
                (
                    "matrix",
                    (serial_wall, m_serial / "matrix.json"),
                    (run_matrix(m_parallel, jobs), m_parallel / "matrix.json"),
                )
            )
    data = json.loads((report_dir / "audit.json").read_text())
    rows = sorted(data["scenarios"], key=lambda s: -float(s.get("duration_s") or 0))
    total_inherent = 0.0
    print(
        f"{'scenario':<14} {'verdict':<8} {'wall s':>7} {'inherent s':>11} {'overhead s':>11}  inherent wait"
    )
    for s in rows:
        wall_s = float(s.get("duration_s") or 0)
        inherent, why = INHERENT.get(s["id"], (0.0, "none: driven by barriers and observed states"))
        total_inherent += inherent
        print(
            f"{s['id']:<14} {s['verdict']:<8} {wall_s:>7.1f} {inherent:>11.1f} {wall_s - inherent:>11.1f}  {why}"
        )
    scenario_sum = sum(float(s.get("duration_s") or 0) for s in rows)
    print(f"\nscenarios: {len(rows)}, sum of scenario wall times {scenario_sum:.1f} s, "
          f"of which inherent waiting {total_inherent:.1f} s ({100 * total_inherent / max(scenario_sum, 1e-9):.0f} %)")  # fmt: skip
    print(f"audit duration (report): {data.get('duration_s', 0):.1f} s; score {data.get('score')}")
    if wall is not None:
        print(f"whole `chaos-audit run --jobs 1` wall time: {wall:.1f} s\n")
    for what, serial, parallel in summary:
        compare(what, serial, parallel, jobs)
    return 0


def default_parallel_jobs() -> int:
    """What ``--jobs`` defaults to on this machine now."""
    from harness import catalog
    from harness.run.jobs import default_jobs

    return default_jobs([e.id for e in catalog.ENTRIES])


if __name__ == "__main__":
    sys.exit(main())
