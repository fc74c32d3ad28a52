"""The client maps every kind of failure to ProviderError, checked with a canned transport (no server)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from harness.errors import ProviderError
from harness.faults.provider.client import ProviderClient


class _Canned(BaseAdapter):
    """Answers every request with one status and body, or raises one exception."""

    def __init__(self, status: int = 200, body: bytes = b"", error: Exception | None = None) -> None:
        super().__init__()
        self.status, self.body, self.error = status, body, error
        self.timeouts: list[object] = []
        self.bodies: list[object] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, timeout: object = None, **kwargs: Mapping[str, Any]
    ) -> requests.Response:
        self.timeouts.append(timeout)
        self.bodies.append(request.body)
        if self.error is not None:
            raise self.error
        response = requests.Response()
        response.status_code, response._content, response.request = self.status, self.body, request
        return response

    def close(self) -> None:
        pass


def _client(adapter: _Canned) -> ProviderClient:
    client = ProviderClient("http://provider.test", timeout=1.5)
    client._session.mount("http://", adapter)
    return client


def test_error_status_carries_the_servers_message() -> None:
    with pytest.raises(
        ProviderError, match=r"DELETE http://provider.test/_control/rules/r9 answered 404: no rule"
    ):
        _client(_Canned(404, b'{"error": "no rule r9"}')).remove_rule("r9")


def test_timeout_is_a_provider_error_from_requests_and_every_call_has_a_timeout() -> None:
    adapter = _Canned(error=requests.ReadTimeout("read timed out"))

    with pytest.raises(ProviderError, match="read timed out") as caught:
        _client(adapter).reset()

    assert isinstance(caught.value.__cause__, requests.ReadTimeout)
    assert adapter.timeouts == [1.5]


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"entries": [{"seq": 1}]}', b"[]"])
def test_unexpected_answers_are_provider_errors(body: bytes) -> None:
    with pytest.raises(ProviderError, match="ledger"):
        _client(_Canned(200, body)).ledger()


def test_barrier_wait_timeout_leaves_room_for_the_long_poll() -> None:
    adapter = _Canned(
        201,
        b'{"id": "b1", "item_id": "i", "attempt": null, "arrived": 0, "waiting": 0, '
        b'"released": false, "active": true}',
    )
    gate = _client(adapter).barrier("i")
    adapter.status, adapter.body = 408, b'{"error": "0 of 1 call(s) arrived at b1 within 3 s"}'

    with pytest.raises(ProviderError, match=r"item i at barrier b1.*408.*hint:"):
        gate.wait(timeout=3)

    assert adapter.timeouts == [1.5, 4.5]


def test_nth_barrier_sends_nth_and_names_the_call_it_waits_for() -> None:
    adapter = _Canned(
        201,
        b'{"id": "b2", "item_id": null, "attempt": null, "nth": 8, "arrived": 0, "waiting": 0, '
        b'"released": false, "active": true}',
    )
    gate = _client(adapter).barrier(nth=8)
    adapter.status, adapter.body = 408, b'{"error": "0 of 1 call(s) arrived at b2 within 3 s"}'

    with pytest.raises(ProviderError, match=r"for work call nth=8 at barrier b2.*408"):
        gate.wait(timeout=3)

    assert isinstance(adapter.bodies[0], bytes)
    assert json.loads(adapter.bodies[0]) == {"item_id": None, "attempt": None, "nth": 8}
    assert (gate.item_id, gate.attempt, gate.nth) == (None, None, 8)
