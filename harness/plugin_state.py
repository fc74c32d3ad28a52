"""What the plugin's hooks share across modules: its ``config.stash`` keys and its two outputs
while a run goes on (the progress file's events and the terminal's verdict lines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

RECORD_KEY = pytest.StashKey[list[dict[str, Any]]]()
SEED_KEY = pytest.StashKey[int]()
RUN_KEY = pytest.StashKey[Any]()
STARTED_KEY = pytest.StashKey[float]()
COLLECTED_KEY = pytest.StashKey[list[dict[str, Any]]]()
#: the xdist controller's temporary folder of alone locks (removed at the end)
ALONE_DIR_KEY = pytest.StashKey[Path]()


def progress(config: pytest.Config, event: dict[str, Any]) -> None:
    """Append one event to the progress file (``--chaos-progress``), when there is one."""
    path = config.getoption("--chaos-progress")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(json.dumps(event, default=str) + "\n")


def announce(config: pytest.Config, record: dict[str, Any], worker: str | None = None) -> None:
    """A scenario's verdict: the progress event and the terminal line."""
    progress(config, {"event": "verdict", **record, **({"worker": worker} if worker else {})})
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        from harness.report.evidence import evidence_text

        evidence = evidence_text(record.get("evidence") or {}, limit=2)
        reporter.write_line(
            f"chaos-audit: {record.get('id')} {str(record.get('verdict')).upper()} "
            f"({record.get('severity')}) {evidence} [{record.get('duration_s', 0):.1f} s]"
        )
