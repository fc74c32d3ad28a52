"""Test doubles of the provider's integration tests: the target that calls it, and a poller.

A module with a unique name (not ``conftest``) so the tests can import the types they annotate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import requests

T = TypeVar("T")


class Target:
    """The "system under test": calls the provider's work and listing endpoints like a worker would."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def generate(
        self,
        item_id: str,
        *,
        timeout: float | tuple[float, float] = 5.0,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        **body: Any,
    ) -> requests.Response:
        """``POST /v1/generate`` for ``item_id``; extra keywords go into the JSON body."""
        return self.session.post(
            f"{self.base_url}/v1/generate",
            json={"item_id": item_id, "batch_id": None, "input": None, **body},
            headers=headers or {},
            timeout=timeout,
            stream=stream,
        )

    def listing(self, **params: Any) -> requests.Response:
        """``GET /v1/listing`` with these query parameters."""
        return self.session.get(f"{self.base_url}/v1/listing", params=params, timeout=5.0)


class Background:
    """Calls that must run while the test acts (held at a barrier, hanging): one thread each."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.pool = ThreadPoolExecutor(max_workers=8)

    def generate(self, item_id: str, *, timeout: float = 10.0) -> Future[requests.Response]:
        """Start ``POST /v1/generate`` in a thread; the future holds the answer."""
        return self.pool.submit(self._generate, item_id, timeout)

    def _generate(self, item_id: str, timeout: float) -> requests.Response:
        # A session per call: requests sessions are not meant to be shared across threads.
        target = Target(self.base_url)
        try:
            return target.generate(item_id, timeout=timeout)
        finally:
            target.session.close()


def eventually(probe: Callable[[], T | None], *, timeout: float = 5.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy (observed state, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not observed within {timeout} s")
        time.sleep(0.01)
