"""Shared fixtures of the harness's own tests: a real embedded PostgreSQL for the whole session."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from harness.store.postgres import EmbeddedPostgres

_db_counter = itertools.count(1)


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
