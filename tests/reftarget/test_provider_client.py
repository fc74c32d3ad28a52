"""The provider client (unit, no network): timeouts, classification, malformed bodies, headers."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator

import httpx
import pytest
import respx
from reftarget import defects
from reftarget.worker.backoff import RetryStrategy
from reftarget.worker.provider_client import (
    ErrorKind,
    ProviderClient,
    ProviderFailure,
    require_output,
)

URL = "http://provider.test"


def client(**kw: float) -> ProviderClient:
    return ProviderClient(
        URL, timeout_s=kw.get("timeout_s", 0.3), connect_timeout_s=0.3, wall_s=kw.get("wall_s", 0.0)
    )


def generate(c: ProviderClient, **kw: object) -> object:
    args = {
        "item_id": "i1",
        "batch_id": "b1",
        "payload": {"x": 1},
        "idempotency_key": "b1:1",
        "correlation_id": "cid-1",
        "attempt": 2,
    }
    args.update(kw)
    return c.generate(**args)  # type: ignore[arg-type]


@respx.mock
def test_success_sends_idempotency_correlation_and_attempt_headers() -> None:
    route = respx.post(f"{URL}/v1/generate").respond(200, json={"id": "call-1", "output": "result:i1"})
    result = generate(client())
    sent = route.calls.last.request
    assert sent.headers["Idempotency-Key"] == "b1:1"
    assert sent.headers["X-Correlation-Id"] == "cid-1"
    assert sent.headers["X-Attempt"] == "2"
    assert json.loads(sent.content) == {"item_id": "i1", "batch_id": "b1", "input": {"x": 1}}
    assert require_output(result) == "result:i1"  # type: ignore[arg-type]


@respx.mock
def test_no_correlation_id_defect_drops_the_header() -> None:
    defects.activate(["no_correlation_id"])
    route = respx.post(f"{URL}/v1/generate").respond(200, json={"output": 1})
    generate(client())
    assert "X-Correlation-Id" not in route.calls.last.request.headers


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (500, ErrorKind.PROVIDER_5XX, True),
        (503, ErrorKind.PROVIDER_5XX, True),
        (400, ErrorKind.PROVIDER_4XX, False),
        (422, ErrorKind.PROVIDER_4XX, False),
        (429, ErrorKind.PROVIDER_429, True),
        (408, ErrorKind.TIMEOUT, True),
    ],
)
@respx.mock
def test_error_statuses_are_classified_with_status_and_excerpt(
    status: int, kind: ErrorKind, retryable: bool
) -> None:
    body = {"error": {"type": "x", "message": "m" * 500}}
    respx.post(f"{URL}/v1/generate").respond(status, json=body, headers={"Retry-After": "2"})
    with pytest.raises(ProviderFailure) as err:
        generate(client())
    f = err.value
    assert (f.kind, f.status, f.retryable) == (kind, status, retryable)
    assert f.body_excerpt and f.body_excerpt.startswith('{"error"') and len(f.body_excerpt) <= 300
    assert f.retry_after_s == 2.0


@respx.mock
def test_a_body_that_is_not_json_is_malformed_not_a_crash() -> None:
    respx.post(f"{URL}/v1/generate").respond(200, content=b"<html>oops")
    with pytest.raises(ProviderFailure) as err:
        generate(client())
    assert err.value.kind == ErrorKind.MALFORMED and not err.value.retryable
    assert err.value.body_excerpt == "<html>oops"


@respx.mock
def test_json_without_output_is_malformed() -> None:
    respx.post(f"{URL}/v1/generate").respond(200, json={"id": "call-1"})
    with pytest.raises(ProviderFailure) as err:
        require_output(generate(client()))  # type: ignore[arg-type]
    assert err.value.kind == ErrorKind.MALFORMED


@respx.mock
def test_read_timeout_and_connect_error_are_classified() -> None:
    respx.post(f"{URL}/v1/generate").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderFailure) as err:
        generate(client())
    assert err.value.kind == ErrorKind.TIMEOUT and err.value.retryable
    respx.post(f"{URL}/v1/generate").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ProviderFailure) as err:
        generate(client())
    assert err.value.kind == ErrorKind.CONNECTION and err.value.retryable


def test_timeouts_are_configured_unless_the_defect_removes_them() -> None:
    assert client(timeout_s=0.3)._client.timeout.read == 0.3
    defects.activate(["no_provider_timeout"])
    assert client(timeout_s=0.3)._client.timeout.read is None


def trickle(n: int, every_s: float) -> Iterator[bytes]:
    for _ in range(n):
        time.sleep(every_s)
        yield b"x"


def trickling_client(**kw: float) -> ProviderClient:
    transport = httpx.MockTransport(lambda req: httpx.Response(200, content=trickle(10_000, 0.01)))
    return ProviderClient(URL, timeout_s=0.3, transport=transport, wall_s=kw.get("wall_s", 0.0))


def test_a_trickling_body_is_stopped_by_the_abort_check_between_chunks() -> None:
    deadline = time.monotonic() + 0.2
    started = time.monotonic()
    with pytest.raises(ProviderFailure) as err:
        generate(
            trickling_client(), abort=lambda: ErrorKind.DEADLINE if time.monotonic() > deadline else None
        )
    assert err.value.kind == ErrorKind.DEADLINE
    # stopped between chunks, not at the end of the body (10,000 chunks of 10 ms: 100 s)
    assert time.monotonic() - started < 30


def test_the_optional_wall_limit_stops_a_trickle_too() -> None:
    with pytest.raises(ProviderFailure) as err:
        generate(trickling_client(wall_s=0.15))
    assert err.value.kind == ErrorKind.TIMEOUT and "incomplete" in err.value.message


def test_retry_strategy_backs_off_exponentially_with_jitter_and_stops() -> None:
    s = RetryStrategy(base_s=0.1, max_s=0.5, rng=random.Random(1))
    five = ProviderFailure(kind=ErrorKind.PROVIDER_5XX, message="x", status=500)
    d1, d2, d3 = (s.decide(five, attempt=a, max_attempts=9).delay_s for a in (1, 2, 3))
    assert 0.05 <= d1 <= 0.1 and 0.1 <= d2 <= 0.2 and 0.2 <= d3 <= 0.4
    assert s.delay(10) <= 0.5
    assert not s.decide(five, attempt=3, max_attempts=3).retry
    four = ProviderFailure(kind=ErrorKind.PROVIDER_4XX, message="x", status=422)
    assert not s.decide(four, attempt=1, max_attempts=3).retry
    slow = ProviderFailure(kind=ErrorKind.PROVIDER_429, message="x", status=429, retry_after_s=1.5)
    assert s.decide(slow, attempt=1, max_attempts=3).delay_s == 1.5
