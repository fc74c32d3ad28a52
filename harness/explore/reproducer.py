"""The reproducer: a schedule as a ``chaos-audit session --script`` file.

The file is the round's lines with ``wait`` lines for the gaps, then the round's ending: ``heal
all``, ``wait done`` (the quiet period: it fails when an item never becomes terminal, which is the
``all_terminal`` check), and ``check`` of the violated check. In a replay a violated ``check`` stops
the script with exit 1, so "the reproducer still fails" is its exit code. The header records the
seed (``--script`` uses it), the defect and the check, as comments the loader skips.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from harness.explore.checks import ALL_TERMINAL, LIVENESS
from harness.explore.schedule import Schedule


def script_lines(schedule: Schedule, check: str) -> list[str]:
    """The command lines (no comments): the steps with their gaps, then the ending."""
    out: list[str] = []
    for gap, line in schedule.steps():
        if gap >= 0.05:
            out.append(f"wait {gap:.2f}s")
        out.append(line)
    out += ["heal all", f"wait done {schedule.settle_s:g}s"]
    if schedule.linger_s:
        out.append(f"wait {schedule.linger_s:g}s")
    if check != ALL_TERMINAL:
        out.append(f"check {check}")
    return out


def script_text(
    schedule: Schedule,
    *,
    check: str,
    summary: str = "",
    target_name: str = "",
    target_file: str | None = None,
    defects: Sequence[str] = (),
) -> str:
    """The whole file: header comments, then :func:`script_lines`."""
    argv = ["chaos-audit", "session", "--script", "FILE"]
    if target_file:
        argv += ["--target", target_file]
    if defects:
        argv += ["--defect", ",".join(defects)]
    fails_at = "wait done (an item never became terminal)" if check in LIVENESS else f"check {check}"
    header = [
        f"# chaos-audit explore reproducer; target {target_name or '?'}; seed {schedule.seed}",
        f"# round {schedule.round} of the exploration, shrunk to {schedule.describe()}",
        f"# violated check: {check}" + (f" - {summary}" if summary else ""),
        f"# replay: {shlex.join(argv)}   (exit 1 at '{fails_at}' while it reproduces)",
    ]
    return "\n".join([*header, *script_lines(schedule, check)]) + "\n"


def save(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
