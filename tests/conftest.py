"""Shared fixtures of the harness's own tests (a real embedded PostgreSQL per test process), the
suite's parallel default (hooks in ``tests/suite_xdist.py``) and its SIGINT disposition.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator

import pytest

from harness.store.postgres import EmbeddedPostgres
from tests.suite_xdist import (  # noqa: F401 (hooks: found by name in this module)
    pytest_cmdline_main,
    pytest_collection_modifyitems,
    pytest_configure_node,
)

_db_counter = itertools.count(1)


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
