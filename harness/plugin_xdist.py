"""The plugin under pytest-xdist: which process this is, and the controller's side.

Each worker process has its own session, so its own stack; the workers make the verdict records
and ship each one to the controller on its teardown report (``chaos_record``); the controller
alone writes the progress events, the terminal lines and ``run.json`` (see :mod:`harness.plugin`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.plugin_state import ALONE_DIR_KEY, COLLECTED_KEY, RECORD_KEY, SEED_KEY, announce, progress


def xdist_worker(config: pytest.Config) -> str | None:
    """This process's xdist worker id (``gw0``...), None outside xdist workers."""
    workerinput = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else None


def xdist_controller(config: pytest.Config) -> bool:
    """True in the process that hands scenarios to xdist workers (it runs none itself)."""
    if xdist_worker(config) is not None or config.getoption("collectonly"):
        return False
    return bool(getattr(config.option, "numprocesses", None)) and getattr(config.option, "dist", "no") != "no"


def prepare_xdist(config: pytest.Config) -> None:
    """Before the workers start: refuse a shared stack, give them one folder of alone locks."""
    import tempfile

    from harness.errors import ConfigError
    from harness.run.jobs import shared_stack
    from harness.target.load import load_target

    try:
        target, _ = load_target(config.getoption("--chaos-target"))
    except ConfigError as exc:
        raise pytest.UsageError(f"{exc} (field: {exc.field})") from exc
    shared = shared_stack(config.getoption("--chaos-backend"), target)
    if shared is not None:
        raise pytest.UsageError(
            f"-n/--numprocesses: {shared}, so scenarios side by side would interfere; "
            "run them one at a time (without -n)"
        )
    config.pluginmanager.register(XdistController(config), "chaos-audit-xdist-controller")
    if not config.getoption("--chaos-alone-lock"):
        config.stash[ALONE_DIR_KEY] = Path(tempfile.mkdtemp(prefix="chaos-audit-alone-"))


class XdistController:
    """The xdist controller's side (registered in ``pytest_configure``): it runs no scenario, it
    turns the workers' reports into the progress events, the terminal lines and the run record."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """What every worker must share (a worker parses the command line again, it does not get
        the controller's options): the run's seed and the folder of the alone locks."""
        node.workerinput["chaos_seed"] = self.config.stash[SEED_KEY]
        alone = self.config.stash.get(ALONE_DIR_KEY, None) or self.config.getoption("--chaos-alone-lock")
        node.workerinput["chaos_alone_lock"] = str(alone)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """The ``collected`` event, from the first worker's collection.

        Only node ids are known here (the workers hold the items); a worker's full list, with
        the audit ids, arrives when it finishes (``pytest_testnodedown``) and replaces this one.
        """
        if self.config.stash[COLLECTED_KEY]:
            return
        self.config.stash[COLLECTED_KEY] = [{"nodeid": i} for i in ids]
        progress(self.config, {"event": "collected", "scenarios": self.config.stash[COLLECTED_KEY]})

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        collected = (getattr(node, "workeroutput", None) or {}).get("chaos_collected")
        current = self.config.stash[COLLECTED_KEY]
        if collected and (not current or any("id" not in c for c in current)):
            self.config.stash[COLLECTED_KEY] = list(collected)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        ids = {c.get("nodeid"): c.get("id") for c in self.config.stash[COLLECTED_KEY]}
        progress(self.config, {"event": "start", "id": ids.get(nodeid), "nodeid": nodeid})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        raw = getattr(report, "chaos_record", None)
        if report.when != "teardown" or not raw:
            return
        record = json.loads(raw)
        self.config.stash[RECORD_KEY].append(record)
        node = getattr(report, "node", None)
        worker = (getattr(node, "workerinput", None) or {}).get("workerid")
        announce(self.config, record, str(worker) if worker else None)
