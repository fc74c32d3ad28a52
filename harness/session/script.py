"""Session scripts: the commands of a session, one per line, replayable with ``--script FILE``.

``save FILE`` writes every command the session ran, with a ``wait`` line wherever more than
0.1 s passed between one command ending and the next starting: a replay keeps the session's
pacing, so a fault lands at the same point of the workload (a game day you can run again). The
header records the seed; ``--script`` uses it unless ``--seed`` is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.session.engine import Session

#: a pause shorter than this between two commands is typing, not intent
MIN_GAP_S = 0.1
_SEED = re.compile(r"^#.*\bseed[ :=]+(\d+)", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Script:
    """A loaded script: its command lines (comments and blanks kept out) and the seed it names."""

    path: Path
    lines: tuple[str, ...]
    seed: int | None


def load_script(path: str | Path) -> Script:
    """Read a script file; a missing or unreadable one is a ConfigError naming ``--script``."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError(f"--script: cannot read {file}: {exc.strerror or exc}", field="--script") from exc
    seed = None
    lines: list[str] = []
    for raw in text.splitlines():
        match = _SEED.match(raw.strip())
        if match and seed is None and not lines:
            seed = int(match.group(1))
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return Script(path=file, lines=tuple(lines), seed=seed)


def script_text(session: Session, *, command: str = "") -> str:
    """The session's commands as a script (header with the seed, ``wait`` lines for the pauses)."""
    out = [
        f"# chaos-audit session script; target {session.target.name}; seed {session.seed}",
        "# replay: chaos-audit session --script FILE" + (f"  (this session: {command})" if command else ""),
    ]
    previous_end: float | None = None
    for typed in session.typed:
        if previous_end is not None and typed.started - previous_end >= MIN_GAP_S:
            out.append(f"wait {typed.started - previous_end:.1f}s")
        out.append(typed.line)
        previous_end = typed.ended
    return "\n".join(out) + "\n"


def save_script(session: Session, path: str | Path, *, command: str = "") -> Path:
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(script_text(session, command=command))
    return file
