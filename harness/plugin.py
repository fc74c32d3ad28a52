"""pytest plugin of chaos-audit (registered through the ``pytest11`` entry point).

Holds only hooks, options, markers and fixtures; machinery is imported lazily inside fixtures and
hooks so that every pytest run in an environment with chaos-audit installed stays cheap. State
lives in ``config.stash``. Each scenario's verdict, evidence and violations are appended to the run
record, written as ``run.json`` in ``--chaos-report-dir`` at the end of the session (the input of
``chaos-audit run``'s reports), with the ids collected so an interrupted run knows what it missed.

``--chaos-only`` selects scenarios by audit id; ``--chaos-progress FILE`` appends one JSON line per
scenario start and verdict (how ``chaos-audit run`` shows live progress from its pytest child);
``--chaos-parent-fd N`` is that command's lifeline (the audit stops when the command dies);
a one-line verdict with its key evidence is printed to the terminal after each scenario. When
allure-pytest is active, each scenario gets its audit labels and attachments.

Under pytest-xdist (``pytest scenarios -n 4``) each worker process has its own session, so its own
stack (PostgreSQL, proxy, provider, pid records): scenarios on different workers never share one.
The workers make the verdict records and ship each one to the controller on its teardown report
(``chaos_record``); the controller alone writes the progress events, the terminal lines and
``run.json``, so those outputs are the same as a serial run's. ``alone`` scenarios of the catalogue
wait for the others and hold the machine (``--chaos-alone-lock``, :mod:`harness.run.alone`). The
external backend refuses xdist: its stack is shared, parallel scenarios would interfere.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from harness.options import new_seed
from harness.plugin_state import (
    ALONE_DIR_KEY,
    COLLECTED_KEY,
    RECORD_KEY,
    RUN_KEY,
    SEED_KEY,
    STARTED_KEY,
    announce,
    progress,
)
from harness.plugin_xdist import prepare_xdist, xdist_controller, xdist_worker

__all__ = ["RUN_KEY", "SEED_KEY"]  # the keys tests and plugins of plugins read


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos-audit")
    group.addoption("--chaos-target", default=None, help="target file (YAML); default: the reference target")
    group.addoption("--chaos-backend", default="local", choices=("local", "docker", "external"))
    group.addoption("--chaos-seed", default=None, type=int, help="seed of all randomness (printed)")
    group.addoption("--chaos-report-dir", default=None, help="where run.json and histories are written")
    group.addoption("--chaos-defect", default="", help="comma-separated defects of the reference target")
    group.addoption(
        "--chaos-only", default="", help="comma-separated audit ids to run (others are deselected)"
    )
    group.addoption(
        "--chaos-progress", default=None, help="append one JSON line per scenario start/verdict here"
    )
    group.addoption(
        "--chaos-run-json",
        default=None,
        help="write the run record here (default: run.json in the report dir)",
    )
    group.addoption(
        "--chaos-alone-lock",
        default=None,
        help="folder of the locks that keep alone scenarios alone across processes (set by the run)",
    )
    group.addoption(
        "--chaos-parent-fd",
        default=None,
        type=int,
        help="lifeline from chaos-audit run: stop the audit when this fd reads EOF (the command died)",
    )


#: interrupts this process's session has seen (``pytest_keyboard_interrupt`` gets no config to
#: stash them on)
_INTERRUPTS: list[bool] = []


def pytest_configure(config: pytest.Config) -> None:
    _INTERRUPTS.clear()  # a second session in one process (pytester in-process) starts afresh
    config.addinivalue_line(
        "markers", "audit(id, title, task, severity): an audit scenario of docs/scenarios.md"
    )
    workerinput = getattr(config, "workerinput", None) or {}  # an xdist worker's, from its controller
    seed = config.getoption("--chaos-seed")
    seed = workerinput.get("chaos_seed", seed)
    config.stash[SEED_KEY] = seed if seed is not None else new_seed()
    config.stash[RECORD_KEY] = []
    config.stash[STARTED_KEY] = time.time()
    config.stash[COLLECTED_KEY] = []
    if xdist_controller(config):
        prepare_xdist(config)
    if config.getoption("--chaos-backend") == "external":
        _check_external(config)
    alone = workerinput.get("chaos_alone_lock") or config.getoption("--chaos-alone-lock")
    if alone:
        from harness.run.alone import AloneGuard

        config.pluginmanager.register(AloneGuard(Path(alone)), "chaos-audit-alone")
    parent_fd = config.getoption("--chaos-parent-fd")
    if parent_fd is not None and not xdist_worker(config):  # the fd is the controller's, not a worker's
        from harness.run.watchdog import watch_parent

        watch_parent(parent_fd)


def pytest_unconfigure(config: pytest.Config) -> None:
    alone = config.stash.get(ALONE_DIR_KEY, None)
    if alone is not None:
        import shutil

        shutil.rmtree(alone, ignore_errors=True)


def _check_external(config: pytest.Config) -> None:
    """Before anything starts: no defects (the harness does not start the stack), and the target
    file must allow faults on its environment (printed, so the log says what may be faulted)."""
    from harness.errors import ConfigError
    from harness.stack.safety import plan_lines, require_faults_allowed
    from harness.target.load import load_target

    if config.getoption("--chaos-defect"):
        from harness.stack.backends import DEFECT_NEEDS_OWN_STACK

        raise pytest.UsageError(f"--chaos-defect {DEFECT_NEEDS_OWN_STACK}")
    try:
        target, _ = load_target(config.getoption("--chaos-target"))
        for line in plan_lines(target):
            print(line)
        require_faults_allowed(target)
    except ConfigError as exc:
        raise pytest.UsageError(f"{exc} (field: {exc.field})") from exc


def pytest_report_header(config: pytest.Config) -> str:
    return f"chaos-audit: seed {config.stash[SEED_KEY]} (rerun with --chaos-seed {config.stash[SEED_KEY]})"


# -- selection -----------------------------------------------------------------------------------
def _only(config: pytest.Config) -> set[str]:
    return {i.strip().upper() for i in str(config.getoption("--chaos-only") or "").split(",") if i.strip()}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--chaos-only``, deselect every test whose audit id is not listed."""
    only = _only(config)
    if not only:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("audit")
        selected = marker is not None and str(marker.kwargs.get("id", "")).upper() in only
        (keep if selected else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember which scenarios will run, so a run that dies can name the ones it never reached."""
    collected = session.config.stash[COLLECTED_KEY]
    for item in session.items:
        marker = item.get_closest_marker("audit")
        if marker is not None:
            collected.append({**_meta_of(marker), "nodeid": item.nodeid})
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller announces (see pytest_testnodedown)
        workeroutput["chaos_collected"] = collected
        return
    progress(session.config, {"event": "collected", "scenarios": collected})


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chaos_target(pytestconfig: pytest.Config) -> Any:
    """The loaded, validated target file."""
    from harness.target.load import load_target

    target, _ = load_target(pytestconfig.getoption("--chaos-target"))
    return target


@pytest.fixture(scope="session")
def chaos_infra(pytestconfig: pytest.Config, chaos_target: Any) -> Iterator[Any]:
    """Session-wide infrastructure of the chosen backend (``harness.stack.backends``): PostgreSQL
    (local, docker), proxy, provider; every scenario is ``unknown`` when the backend cannot run here."""
    from harness.errors import BackendUnavailable
    from harness.stack.backends import get_backend

    backend = get_backend(pytestconfig.getoption("--chaos-backend"))
    with contextlib.ExitStack() as opened:
        try:
            infra = opened.enter_context(backend.infra(chaos_target, seed=pytestconfig.stash[SEED_KEY]))
        except BackendUnavailable as exc:
            pytest.skip(f"unknown: {exc}")
        yield infra


@pytest.fixture
def chaos_stack(chaos_infra: Any, chaos_target: Any, pytestconfig: pytest.Config) -> Iterator[Any]:
    """A fresh stack for one scenario (not started: the scenario chooses services and timing)."""
    from harness.stack.backends import get_backend

    backend = get_backend(pytestconfig.getoption("--chaos-backend"))
    defects = [d for d in pytestconfig.getoption("--chaos-defect").split(",") if d]
    stack = backend.new_stack(chaos_infra, chaos_target, defects=defects, seed=pytestconfig.stash[SEED_KEY])
    with contextlib.closing(stack):
        yield stack


@pytest.fixture
def audit(request: pytest.FixtureRequest, chaos_stack: Any) -> Iterator[Any]:
    """The running scenario: stack, faults (healed in finally), history, state sampler, evidence, checks."""
    from harness.history import History
    from harness.scenario import AuditMeta, ScenarioRun
    from harness.stack.backends import get_backend
    from harness.stack.lifecycle import audited, should_sample

    marker = request.node.get_closest_marker("audit")
    if marker is None:
        raise pytest.UsageError(f"{request.node.nodeid}: the audit fixture needs @pytest.mark.audit(...)")
    meta = AuditMeta.of(marker.kwargs)
    _skip_unmet_needs(request.config, chaos_stack, meta.needs)
    seed = request.config.stash[SEED_KEY]
    run = ScenarioRun(meta, chaos_stack, History(), seed=seed)
    request.node.stash[RUN_KEY] = run
    backend = request.config.getoption("--chaos-backend")
    if not get_backend(backend).starts_services:
        run.observe.exclude_earlier_batches()  # a running stack's store holds others' batches
    report_dir = request.config.getoption("--chaos-report-dir")
    history_path = Path(report_dir) / "histories" / f"{meta.id}.jsonl" if report_dir else None
    with audited(
        run.life,
        sample=should_sample(backend, chaos_stack.target),  # waits for the stack's database by itself
        history_path=history_path,
        on_errors=lambda errors: print(f"chaos-audit: {meta.id}: " + "; ".join(errors)),
    ):
        yield run


def _skip_unmet_needs(config: pytest.Config, stack: Any, needs: tuple[str, ...]) -> None:
    """``unknown`` before anything starts when the target file lacks what the scenario declares.

    The same answer ``chaos-audit target check`` prints; what the file declares but the live
    system cannot answer (a query on the wrong table) still ends the scenario unknown as it runs.
    """
    from harness.scenario import UNKNOWN_PREFIX
    from harness.stack.backends import get_backend
    from harness.target.needs import unmet

    starts = get_backend(config.getoption("--chaos-backend")).starts_services
    has_database = starts or bool(stack.target.database.dsn)
    missing = unmet(stack.target, needs, has_database=has_database)
    if missing:
        pytest.skip(UNKNOWN_PREFIX + "; ".join(missing))


# -- verdicts ------------------------------------------------------------------------------------
def _allure_active(config: pytest.Config) -> bool:
    return config.pluginmanager.get_plugin("allure_listener") is not None


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("audit")
    if marker is not None and _allure_active(item.config):
        from harness.report.allure_results import label_scenario

        label_scenario(marker.kwargs)


def pytest_runtest_call(item: pytest.Item) -> None:
    marker = item.get_closest_marker("audit")
    if marker is not None and _allure_active(item.config):
        from harness.report.allure_results import title_scenario

        title_scenario(marker.kwargs)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("audit")
    if marker is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _record_verdict(item, call, report, marker)
    elif report.when == "teardown":
        record = _record_of(item)
        if report.failed and record is not None:
            record["teardown_error"] = report.longreprtext[-1000:]
        run = item.stash.get(RUN_KEY, None)
        if run is not None and _allure_active(item.config):
            from harness.report.allure_results import attach_scenario

            attach_scenario(run, record)
        if record is not None and xdist_worker(item.config) is not None:
            report.chaos_record = json.dumps(record, default=str)  # type: ignore[attr-defined]


def _record_of(item: pytest.Item) -> dict[str, Any] | None:
    records = [r for r in item.config.stash[RECORD_KEY] if r.get("nodeid") == item.nodeid]
    return records[-1] if records else None


def _meta_of(marker: Any) -> dict[str, Any]:
    """The marker's kwargs completed by the catalogue (title, task, severity: one source)."""
    from dataclasses import asdict

    from harness.scenario import AuditMeta

    meta = asdict(AuditMeta.of(marker.kwargs))
    meta["needs"] = list(meta["needs"])
    return meta


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """Something the target does not offer, outside any check, ends a scenario as ``unknown``.

    What was already found false stays a finding (``could_not_run`` fails first).
    """
    try:
        return (yield)
    except Exception as exc:
        from harness.errors import Undecidable
        from harness.scenario import UNKNOWN_PREFIX

        if isinstance(exc, Undecidable) and pyfuncitem.get_closest_marker("audit") is not None:
            run = pyfuncitem.stash.get(RUN_KEY, None)
            if run is not None:
                run.could_not_run(exc)
            pytest.skip(UNKNOWN_PREFIX + str(exc))
        raise


def _record_verdict(
    item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport, marker: Any
) -> None:
    from harness.scenario import UNKNOWN_PREFIX

    run = item.stash.get(RUN_KEY, None)
    if report.passed:
        verdict = "pass"
    elif report.skipped:
        verdict = "unknown"
    else:
        verdict = "fail"
    reason, harness_error = "", False
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ").removeprefix(UNKNOWN_PREFIX)
    elif report.failed:
        reason = str(call.excinfo.value) if call.excinfo else report.longreprtext[-2000:]
        if _is_undecidable(call):  # e.g. a stack that cannot offer a scenario's fault, found in setup
            verdict = "unknown"
        elif report.when == "setup" or _is_harness_error(call):
            # the harness could not start or drive the scenario: not the target's fault, never a finding
            verdict, harness_error = "unknown", True
    outcome = run.outcome if run else None
    undecided = [u.to_json() for u in outcome.undecided] if outcome else []
    if run and outcome is None:  # ended before concluding (a harness error, an assertion of its own)
        undecided = [{"name": c.name, "why": c.error, "core": run.spec.is_core(c.name)}
                     for c in run.checks if c.valid.value == "unknown"]  # fmt: skip
    item.config.stash[RECORD_KEY].append(
        {
            **_meta_of(marker),
            "verdict": verdict,
            "reason": reason,
            #: checks that could not be decided on this target (with why); beside a pass they are
            #: the secondary checks the audit could not look at
            "undecided": undecided,
            "core_checks": run.spec.core_names if run else [],
            "evidence": run.judged_evidence() if run else {},
            "checks": [c.to_json() for c in run.checks] if run else [],
            "contract_used": sorted(run.used) if run else [],
            #: fields used beyond the marker's needs, faults beyond the catalogue's: a harness bug
            #: (``target check`` would promise the scenario can run where it cannot)
            "undeclared_use": run.undeclared_use() if run else [],
            "duration_s": round(report.duration, 3),
            "nodeid": item.nodeid,
            "harness_error": harness_error,
            "error_type": call.excinfo.typename if call.excinfo and report.failed else None,
        }
    )


def _is_undecidable(call: pytest.CallInfo[None]) -> bool:
    from harness.errors import Undecidable

    return call.excinfo is not None and isinstance(call.excinfo.value, Undecidable)


def _is_harness_error(call: pytest.CallInfo[None]) -> bool:
    """True for the harness's own errors (``harness.errors.HarnessError``: a service that would not
    start, a fault that could not be injected, a placeholder that could not be filled...); not for
    ``Undecidable`` (the target does not offer something: unknown, but not the harness's fault)."""
    from harness.errors import HarnessError, Undecidable

    value = call.excinfo.value if call.excinfo is not None else None
    return isinstance(value, HarnessError) and not isinstance(value, Undecidable)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """Around each scenario: a start event, then (after teardown) its verdict event and terminal line.

    In an xdist worker the controller says both (``pytest_runtest_logstart`` / ``_logreport``).
    """
    marker = item.get_closest_marker("audit")
    worker = xdist_worker(item.config) is not None
    if marker is not None and not worker:
        progress(item.config, {"event": "start", "id": marker.kwargs.get("id"), "nodeid": item.nodeid})
    yield
    record = _record_of(item) if marker is not None and not worker else None
    if record is not None:
        announce(item.config, record)


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Note the interrupt before pytest's terminal reporter renders it.

    That rendering can itself fail: on CPython 3.11 a SIGINT that lands on an instruction without a
    line number gives a traceback entry whose ``tb_lineno`` is None, pytest's ``getrepr`` raises
    ``TypeError`` on it, and the session then finishes with exit status 0, as if the audit had run
    to its end (seen once: a run SIGKILLed mid-partition recorded ``interrupted: false``).
    """
    _INTERRUPTS.append(True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    report_dir = config.getoption("--chaos-report-dir")
    if not report_dir or xdist_worker(config) is not None:  # the xdist controller writes the record
        return
    out = Path(config.getoption("--chaos-run-json") or Path(report_dir) / "run.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "seed": config.stash[SEED_KEY],
        "started_at": config.stash[STARTED_KEY],
        "finished_at": time.time(),
        "target": config.getoption("--chaos-target") or "reference",
        "backend": config.getoption("--chaos-backend"),
        "defects": [d for d in config.getoption("--chaos-defect").split(",") if d],
        "only": sorted(_only(config)),
        "exitstatus": int(exitstatus),
        "interrupted": int(exitstatus) == int(pytest.ExitCode.INTERRUPTED) or bool(_INTERRUPTS),
        "collected": config.stash[COLLECTED_KEY],
        "collection_errors": _collection_errors(config),
        "scenarios": config.stash[RECORD_KEY],
        "aborted": _aborted(),
    }
    out.write_text(json.dumps(record, indent=2, default=str))


def _aborted() -> str | None:
    """Why the external stack's safety watcher stopped the run (None: it did not)."""
    import sys

    safety = sys.modules.get("harness.stack.safety")
    reasons: list[str] = list(getattr(safety, "ABORTED", []) or [])
    return reasons[0] if reasons else None


def _collection_errors(config: pytest.Config) -> list[dict[str, str]]:
    """Modules that failed to import (their scenarios are missing: the run is incomplete)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    reports = reporter.stats.get("error", []) if reporter is not None else []
    return [
        {"nodeid": r.nodeid, "error": r.longreprtext[-2000:]}
        for r in reports
        if isinstance(r, pytest.CollectReport)
    ]
