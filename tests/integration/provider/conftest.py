"""Fixtures: one real mock provider (uvicorn in a thread) per session, reset around every test.

``target`` plays the system under test: a plain ``requests`` session calling the work endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from provider_testkit import Background, Target

from harness.faults.provider.client import ProviderClient
from harness.faults.provider.server import ProviderServer


@pytest.fixture(scope="session")
def provider_server() -> Iterator[ProviderServer]:
    with ProviderServer("127.0.0.1", 0) as server:
        yield server


@pytest.fixture
def provider(provider_server: ProviderServer) -> Iterator[ProviderClient]:
    with ProviderClient(provider_server.url) as client:
        client.reset()
        yield client
        client.reset()


@pytest.fixture
def target(provider_server: ProviderServer) -> Iterator[Target]:
    target = Target(provider_server.url)
    yield target
    target.session.close()


@pytest.fixture
def background(provider: ProviderClient, provider_server: ProviderServer) -> Iterator[Background]:
    calls = Background(provider_server.url)
    yield calls
    provider.reset()  # answer whatever is still held, so the threads can finish
    calls.pool.shutdown(wait=True)
