"""A tiny operator's tool for the end-to-end test's independent stack (what systemd is on staging).

``python stackctl.py STATE start NAME`` launches service NAME from ``STATE/NAME.spec.json``
(argv, env, log file) in its own session, detached from whoever called it, and writes its pid to
``STATE/NAME.pid``; ``alive NAME`` exits 0 while that pid runs (not a zombie). The target file's
command handles call it, exactly as a staging target file would call ``systemctl`` or
``kubectl``. The database is started through a *keeper* (``db-keeper``) that owns the embedded
PostgreSQL: killing the postmaster's process group is the crash, the keeper then exits, and
``start db`` brings up a new keeper on the same data directory and port (crash recovery).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def spec_of(state: Path, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((state / f"{name}.spec.json").read_text())
    return data


def alive(state: Path, name: str) -> bool:
    try:
        pid = int((state / f"{name}.pid").read_text().strip())
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def start(state: Path, name: str) -> int:
    if alive(state, name):
        return 0
    spec = spec_of(state, name)
    env = {**os.environ, **dict(spec.get("env") or {})}  # type: ignore[call-overload]
    with open(str(spec["log"]), "ab") as log:
        proc = subprocess.Popen(
            [str(a) for a in spec["argv"]],  # type: ignore[attr-defined]
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    if name != "db":  # the keeper writes the postmaster's pid itself, once it answers SQL
        (state / f"{name}.pid").write_text(str(proc.pid))
        return 0
    deadline = time.monotonic() + 60
    while not alive(state, name):
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"db keeper did not start the database (exit {proc.poll()})", file=sys.stderr)
            return 1
        time.sleep(0.05)
    return 0


def db_keeper(state: Path, base: Path, port: int) -> int:
    """Own the embedded PostgreSQL until it dies (killed by a fault, or stopped by the test)."""
    from harness.process.pidfiles import PidFiles
    from harness.store.postgres import EmbeddedPostgres

    pg = EmbeddedPostgres(base_dir=base, port=port, pidfiles=PidFiles(base / "pids"))
    pg.start()
    assert pg.pid is not None
    (state / "db.pid").write_text(str(pg.pid))
    while pg.running:
        time.sleep(0.1)
    return 0


def main(argv: list[str]) -> int:
    state, verb, name = Path(argv[0]), argv[1], argv[2]
    if verb == "start":
        return start(state, name)
    if verb == "alive":
        return 0 if alive(state, name) else 1
    if verb == "db-keeper":
        return db_keeper(state, Path(argv[3]), int(argv[4]))
    print(f"unknown verb {verb}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
