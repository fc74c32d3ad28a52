"""The suite's parallel default on pytest-xdist, as hooks that ``tests/conftest.py`` imports.

``python -m pytest`` with no path (the README's test command, what CI runs) runs the suite on one
worker per core with ``--dist loadgroup``: most tests wait on real processes, so the workers
overlap their waiting. Tests that must not run side by side carry ``@pytest.mark.xdist_group``
and run one after the other in one worker (the detection matrix, the Docker tests). A run naming
paths (``python -m pytest tests/unit/x.py``) stays in one process, as do scenario runs (``pytest
scenarios/``, ``chaos-audit run``), which never load this file; ``-n 0`` or ``-p no:xdist`` turns
the default off, ``-n N`` sets the number of workers and keeps the groups.

No ini option: ``--dist`` in ``addopts`` would break ``pytest scenarios/`` from a clone where the
test extra (pytest-xdist) is not installed.
"""

from __future__ import annotations

from typing import Any

import pytest

#: the distribution mode chosen below, handed to each worker (a worker rebuilds its options from the
#: command line alone, where the default set here is absent)
_DIST_KEY = "chaos_audit_suite_dist"


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """The whole suite (no path given) runs on one worker per core; any ``-n`` keeps the groups.

    Called before pytest-xdist's hook of the same name, which turns ``numprocesses`` into workers
    (only an initial conftest, as ``tests/conftest.py`` is for a run under ``tests/``, takes part).
    """
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # a worker: it tags grouped tests only when told loadgroup
        if workerinput.get(_DIST_KEY) == "loadgroup":
            config.option.loadgroup = True
        return
    if not hasattr(config.option, "numprocesses"):
        return  # xdist not loaded (-p no:xdist)
    if config.option.numprocesses is None:
        whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS
        if not whole_suite or config.getoption("collectonly") or config.getoption("usepdb"):
            return  # paths named: one process, as before
        config.option.numprocesses = "auto"  # PYTEST_XDIST_AUTO_NUM_WORKERS overrides the count
    if config.option.numprocesses and config.option.dist == "no":
        config.option.dist = "loadgroup"  # xdist_group marks are honoured only under loadgroup


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, in the controller, before a worker starts: pass it the distribution mode."""
    node.workerinput[_DIST_KEY] = node.config.option.dist


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a loadgroup worker: make sure each grouped test's id carries its ``@group`` suffix.

    The controller schedules by that suffix. pytest-xdist writes it into ``item._nodeid``, which
    pytest 9.2 no longer reads (its node ids are structured): the groups are then silently ignored
    and the matrix runs split across workers (pytest-xdist issue #1386). Where the suffix is
    missing after xdist's own hook, set it on the structured id; where xdist managed (older pytest,
    a fixed xdist), leave it. ``tests/unit/test_suite_xdist.py`` checks that groups hold.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if not names:
            continue
        suffix = "@" + "_".join(sorted(names))
        if item.nodeid.endswith(suffix):
            continue
        try:
            from _pytest.nodeid import NodeId  # pytest >= 9.2
        except ImportError:
            item._nodeid = item.nodeid + suffix  # type: ignore[attr-defined]
        else:
            item._id = NodeId.parse(item.nodeid + suffix)  # type: ignore[attr-defined]
