"""Reading a service's log file: what it wrote since an offset, and the last lines for a hint.

A service's stdout and stderr are appended to one file that survives restarts, so "what did this
run say" is "everything after the offset where this run started". Readers never hold the file
open: the service keeps writing while the harness reads.
"""

from __future__ import annotations

from pathlib import Path

#: How much of the end of a log ``log_tail`` reads at most (a tail never needs more).
TAIL_WINDOW_BYTES = 64 * 1024


def log_size(path: Path) -> int:
    """Current size of the log in bytes (0 if it does not exist yet): an offset for ``read_log``."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_log(path: Path, since_offset: int = 0) -> str:
    """The log's text from byte ``since_offset`` to its current end ('' if there is no log yet).

    Invalid UTF-8 (a line cut by a SIGKILL, a binary dump) is replaced rather than raised on.
    """
    try:
        with open(path, "rb") as f:
            f.seek(since_offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def log_tail(path: Path, *, since_offset: int = 0, lines: int = 10, max_chars: int = 2000) -> list[str]:
    """The last ``lines`` non-empty lines written after ``since_offset``, each cut to fit ``max_chars``."""
    start = max(since_offset, log_size(path) - TAIL_WINDOW_BYTES)
    text = read_log(path, start)
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    per_line = max(40, max_chars // max(1, len(tail)))
    return [line if len(line) <= per_line else line[: per_line - 3] + "..." for line in tail]


def log_hint(path: Path | None, *, since_offset: int = 0, lines: int = 10) -> str:
    """The closing hint of a readiness or exit error: where the log is and what it said last."""
    if path is None:
        return "hint: the service has no log file; check that it is started and listens where probed"
    tail = log_tail(path, since_offset=since_offset, lines=lines)
    if not tail:
        said = "nothing logged since this start" if since_offset else "the log is empty"
        return f"hint: read the service log at {path} ({said})"
    body = "\n".join(f"  {line}" for line in tail)
    return f"hint: read the service log at {path} (last lines:\n{body})"
