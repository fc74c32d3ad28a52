"""Fixtures of the report tests: a hand-written run.json and history (no stack, no database)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.report import AuditReport, RunContext, build_report
from harness.target.load import load_target
from harness.target.model import Target

DATA = Path(__file__).parent / "data"


@pytest.fixture
def run_record() -> dict[str, Any]:
    """A realistic run.json: TEST-RR-004 pass, TEST-RR-006 fail (no_fencing), TEST-RR-Q03 unknown."""
    return json.loads((DATA / "run.json").read_text())


@pytest.fixture(scope="session")
def reference_target() -> Target:
    return load_target(None)[0]


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    """A report folder holding the hand-written history of TEST-RR-006 (the others have none)."""
    shutil.copytree(DATA / "histories", tmp_path / "histories")
    return tmp_path


@pytest.fixture
def make_report(reference_target: Target, report_dir: Path) -> Callable[..., AuditReport]:
    """Build an AuditReport from a run record; keyword arguments override the RunContext."""

    def make(run: dict[str, Any] | None, **context: Any) -> AuditReport:
        values: dict[str, Any] = {
            "target_file": None,
            "backend": "local",
            "seed": 424242,
            "started_at": 1795440000.0,
            "duration_s": 31.5,
            "defects": ("no_fencing",),
            "report_dir": report_dir,
            **context,
        }
        return build_report(
            run,
            reference_target,
            RunContext(**values),
            command="chaos-audit run --defect no_fencing --seed 424242",
            harness_version="0.1.0",
        )

    return make
