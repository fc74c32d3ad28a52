"""Shared fixtures of the harness's own tests (a real embedded PostgreSQL per test process), and the
suite's parallel default.

``python -m pytest`` with no path (the README's test command, what CI runs) runs the suite on
pytest-xdist, one worker per core, with ``--dist loadgroup``: most tests wait on real processes,
so two workers on two cores halve the wall time. Tests that must not share their worker's time
with each other carry ``@pytest.mark.xdist_group`` (the detection matrix, the Docker tests).
A run naming paths (``python -m pytest tests/unit/x.py``) stays in one process, as do scenario
runs (``pytest scenarios/``, ``chaos-audit run``), which this file never sees; ``-n 0`` or
``-p no:xdist`` turns the default off, ``-n N`` replaces it.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Iterator

import pytest

from harness.store.postgres import EmbeddedPostgres

_db_counter = itertools.count(1)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """The whole suite (no path given) runs on one worker per core; any ``-n`` keeps the groups.

    Called before pytest-xdist's hook of the same name, which turns ``numprocesses`` into workers
    (only an initial conftest, as this one is for a run under ``tests/``, takes part in it).
    """
    if not hasattr(config.option, "numprocesses") or os.environ.get("PYTEST_XDIST_WORKER"):
        return  # xdist not loaded (-p no:xdist), or this is already one of its workers
    if config.option.numprocesses is None:
        whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS
        if not whole_suite or config.getoption("collectonly") or config.getoption("usepdb"):
            return  # paths named: one process, as before
        config.option.numprocesses = "auto"  # PYTEST_XDIST_AUTO_NUM_WORKERS overrides the count
    if config.option.numprocesses and config.option.dist == "no":
        config.option.dist = "loadgroup"  # xdist_group marks are honoured only under loadgroup


def pytest_configure(config: pytest.Config) -> None:
    """Tests play a terminal's Ctrl-C (SIGINT) on the commands they start, and those commands stop
    their children with it. A suite started as a background job (``python -m pytest &`` in a
    script, nohup, some CI runners) inherits SIGINT *ignored*, passes that on to every process it
    starts, and every such test then fails: the interrupt is never seen. Reinstate Python's own
    handler, so the processes the suite starts get SIGINT as they would from a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def embedded_pg() -> Iterator[EmbeddedPostgres]:
    """One real PostgreSQL server for the test session (killed and removed at the end)."""
    pg = EmbeddedPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.close()


@pytest.fixture
def fresh_dsn(embedded_pg: EmbeddedPostgres) -> Iterator[str]:
    """DSN of a new, empty database on the session server; dropped afterwards."""
    name = f"t{next(_db_counter)}"
    if not embedded_pg.running:  # a test may have killed it
        embedded_pg.start()
    dsn = embedded_pg.create_database(name)
    yield dsn
    if embedded_pg.running:
        embedded_pg.drop_database(name)
