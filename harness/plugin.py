"""pytest plugin of chaos-audit (registered through the ``pytest11`` entry point).

Holds only hooks, options, markers and fixtures; machinery is imported lazily inside fixtures so
that every pytest run in an environment with chaos-audit installed stays cheap. State lives in
``config.stash``. Each scenario's verdict, evidence and violations are appended to the run record,
written as ``run.json`` in ``--chaos-report-dir`` at the end of the session (the input of
``chaos-audit run``'s reports).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

RECORD_KEY = pytest.StashKey[list[dict[str, Any]]]()
SEED_KEY = pytest.StashKey[int]()
RUN_KEY = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos-audit")
    group.addoption("--chaos-target", default=None, help="target file (YAML); default: the reference target")
    group.addoption("--chaos-backend", default="local", choices=("local", "docker", "external"))
    group.addoption("--chaos-seed", default=None, type=int, help="seed of all randomness (printed)")
    group.addoption("--chaos-report-dir", default=None, help="where run.json and histories are written")
    group.addoption("--chaos-defect", default="", help="comma-separated defects of the reference target")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "audit(id, title, task, severity): an audit scenario of CATALOG.md")
    seed = config.getoption("--chaos-seed")
    config.stash[SEED_KEY] = seed if seed is not None else random.SystemRandom().randrange(1, 2**31)
    config.stash[RECORD_KEY] = []


def pytest_report_header(config: pytest.Config) -> str:
    return f"chaos-audit: seed {config.stash[SEED_KEY]} (rerun with --chaos-seed {config.stash[SEED_KEY]})"


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chaos_target(pytestconfig: pytest.Config) -> Any:
    """The loaded, validated target file."""
    from harness.target.load import load_target

    target, _ = load_target(pytestconfig.getoption("--chaos-target"))
    return target


@pytest.fixture(scope="session")
def chaos_infra(pytestconfig: pytest.Config) -> Iterator[Any]:
    """Session-wide PostgreSQL, fault proxy and mock provider (local backend)."""
    from harness.process.pidfiles import PidFiles
    from harness.stack.infra import LocalInfra

    backend = pytestconfig.getoption("--chaos-backend")
    if backend != "local":
        pytest.skip(f"unknown: backend {backend!r} is not available in this build")
    for line in PidFiles.default().reap_stale():
        print(f"chaos-audit: {line}")
    infra = LocalInfra()
    try:
        infra.start()
        yield infra
    finally:
        infra.close()


@pytest.fixture
def chaos_stack(chaos_infra: Any, chaos_target: Any, pytestconfig: pytest.Config) -> Iterator[Any]:
    """A fresh stack for one scenario (not started: the scenario chooses services and timing)."""
    from harness.stack.local import LocalStack

    defects = [d for d in pytestconfig.getoption("--chaos-defect").split(",") if d]
    stack = LocalStack(chaos_infra, chaos_target, defects=defects)
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture
def audit(request: pytest.FixtureRequest, chaos_stack: Any) -> Iterator[Any]:
    """The running scenario: stack, faults (healed in finally), history, evidence, checks."""
    from harness.history import History
    from harness.scenario import AuditMeta, ScenarioRun

    marker = request.node.get_closest_marker("audit")
    if marker is None:
        raise pytest.UsageError(f"{request.node.nodeid}: the audit fixture needs @pytest.mark.audit(...)")
    meta = AuditMeta(**marker.kwargs)
    seed = request.config.stash[SEED_KEY]
    run = ScenarioRun(meta, chaos_stack, History(), seed=seed)
    request.node.stash[RUN_KEY] = run
    try:
        yield run
    finally:
        errors = run.faults.heal_all()
        try:
            run.history.add_ledger([e.to_json() if hasattr(e, "to_json") else e for e in chaos_stack.provider.ledger()])
        except Exception as exc:  # the ledger is evidence, not a reason to fail teardown
            errors.append(f"ledger: {exc}")
        _save_history(request.config, meta.id, run)
        if errors:
            print(f"chaos-audit: {meta.id}: " + "; ".join(errors))


def _save_history(config: pytest.Config, scenario_id: str, run: Any) -> None:
    report_dir = config.getoption("--chaos-report-dir")
    if report_dir:
        path = Path(report_dir) / "histories" / f"{scenario_id}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        run.history.save(path)


# -- verdicts ------------------------------------------------------------------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("audit")
    if marker is not None and (report.when == "call" or (report.when == "setup" and not report.passed)):
        _record_verdict(item, call, report, marker)


def _record_verdict(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport, marker: Any) -> None:
    from harness.scenario import UNKNOWN_PREFIX

    run = item.stash.get(RUN_KEY, None)
    if report.passed:
        verdict = "pass"
    elif report.skipped:
        verdict = "unknown"
    else:
        verdict = "fail"
    reason = ""
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ").removeprefix(UNKNOWN_PREFIX)
    elif report.failed:
        reason = str(call.excinfo.value) if call.excinfo else report.longreprtext[-2000:]
        if report.when == "setup":
            verdict = "unknown"  # the harness could not even start: not the target's fault
    item.config.stash[RECORD_KEY].append(
        {
            **dict(marker.kwargs),
            "verdict": verdict,
            "reason": reason,
            "evidence": dict(run.evidence_items) if run else {},
            "checks": [c.to_json() for c in run.checks] if run else [],
            "duration_s": round(report.duration, 3),
            "nodeid": item.nodeid,
        }
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    report_dir = config.getoption("--chaos-report-dir")
    if not report_dir:
        return
    path = Path(report_dir)
    path.mkdir(parents=True, exist_ok=True)
    record = {
        "seed": config.stash[SEED_KEY],
        "finished_at": time.time(),
        "target": config.getoption("--chaos-target") or "reference",
        "backend": config.getoption("--chaos-backend"),
        "defects": [d for d in config.getoption("--chaos-defect").split(",") if d],
        "scenarios": config.stash[RECORD_KEY],
    }
    (path / "run.json").write_text(json.dumps(record, indent=2, default=str))
