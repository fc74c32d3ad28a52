"""Fixtures of the reference target's tests: a real Postgres database with the schema, the real
mock provider (in a thread), JSON log capture, in-process workers and API, subprocess services."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reftarget import defects, log
from reftarget.config import Settings

from harness.faults.provider.client import ProviderClient as ProviderControl
from harness.faults.provider.server import ProviderServer
from tests.reftarget.helpers import LogBuffer, Services, WorkerThreads, reset_database, services

# fast timings: every wait in these tests is a small multiple of these
TEST_SETTINGS = {
    "lease_s": 0.6,
    "heartbeat_s": 0.15,
    "poll_s": 0.02,
    "provider_timeout_s": 0.8,
    "backoff_base_s": 0.02,
    "backoff_max_s": 0.1,
    "breaker_cooldown_s": 0.4,
    "db_op_timeout_s": 3.0,
    "seed": 7,
}


@pytest.fixture(scope="session")
def mock_provider_server() -> Iterator[ProviderServer]:
    with ProviderServer("127.0.0.1", 0) as server:
        yield server


@pytest.fixture
def provider(mock_provider_server: ProviderServer) -> Iterator[ProviderControl]:
    """The mock provider's control client, reset before and after the test."""
    with ProviderControl(mock_provider_server.url) as control:
        control.reset()
        yield control
        control.reset()


@pytest.fixture(autouse=True)
def _no_defects() -> Iterator[None]:
    defects.activate([])
    yield
    defects.activate([])


@pytest.fixture
def logs() -> Iterator[LogBuffer]:
    buf = LogBuffer()
    log.configure("test", stream=buf)
    yield buf
    log.configure("reftarget", stream=sys.stdout)


@pytest.fixture(scope="session")
def ref_database(embedded_pg: Any) -> str:
    """One database with the schema for the whole session (creating one per test costs ~1 s)."""
    from reftarget.migrate import migrate

    dsn: str = embedded_pg.create_database("reftarget_tests")
    migrate(Settings(database_url=dsn))
    return dsn


@pytest.fixture
def db(ref_database: str) -> str:
    """The session database, emptied: other sessions ended, tables truncated, breaker closed."""
    reset_database(ref_database)
    return ref_database


@pytest.fixture
def settings(db: str, mock_provider_server: ProviderServer) -> Settings:
    return Settings(database_url=db, provider_url=mock_provider_server.url, worker_id="test", **TEST_SETTINGS)


@pytest.fixture
def workers(settings: Settings, provider: ProviderControl, logs: LogBuffer) -> Iterator[WorkerThreads]:
    pool = WorkerThreads(settings)
    yield pool
    pool.stop()


@pytest.fixture
def api(settings: Settings, logs: LogBuffer) -> Iterator[Any]:
    """The API in-process (FastAPI TestClient, lifespan included: schema, pool)."""
    from fastapi.testclient import TestClient
    from reftarget.api.app import create_app

    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def procs(settings: Settings, tmp_path: Path, provider: ProviderControl) -> Iterator[Services]:
    with services(settings, tmp_path) as svc:
        yield svc
