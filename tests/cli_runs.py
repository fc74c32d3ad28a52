"""What the tests that run ``chaos-audit`` as a user would share: the command line, a folder of
stand-in scenarios in place of the real ones, and the processes a run may have left behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def chaos_audit(*args: str) -> list[str]:
    """The command line of ``chaos-audit ARGS`` in this interpreter."""
    return [sys.executable, "-m", "harness.cli", *args]


def stand_in_env(tmp_path: Path, source: str) -> dict[str, str]:
    """An environment whose scenarios are ``source`` (one test module) instead of the real ones."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "test_stand_ins.py").write_text(source)
    return {**os.environ, "CHAOS_AUDIT_SCENARIOS": str(folder)}


def processes_with(marker: str) -> list[int]:
    """Pids (other than this one) whose command line or environment mentions ``marker``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        for name in ("cmdline", "environ"):
            try:
                if marker.encode() in Path(f"/proc/{entry.name}/{name}").read_bytes():
                    found.append(int(entry.name))
                    break
            except OSError:
                continue
    return found
