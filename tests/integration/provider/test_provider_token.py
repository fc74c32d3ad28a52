"""The provider's ``/_control`` API behind the control token; the work endpoints stay open.

Every server here listens on 127.0.0.1, except one in-process server that binds 0.0.0.0 for a
moment, with a token, and is only ever spoken to on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from provider_testkit import Background, Target, eventually

from harness.errors import ConfigError, ProviderError
from harness.faults.control_token import TOKEN_ENV, WWW_AUTHENTICATE
from harness.faults.provider.client import ProviderClient
from harness.faults.provider.model import Outcome
from harness.faults.provider.server import ProviderServer

REPO = Path(__file__).resolve().parents[3]
TOKEN = "provider-test-token-8b3e1f5a2c"
WRONG = TOKEN[:-1] + "X"  # a near miss: must be refused, and must not be logged either


def _env(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    return env if token is None else {**env, TOKEN_ENV: token}


def _headers(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def guarded() -> Iterator[ProviderServer]:
    with ProviderServer("127.0.0.1", 0, token=TOKEN) as server:
        yield server


@pytest.fixture
def control(guarded: ProviderServer) -> Iterator[ProviderClient]:
    with ProviderClient(guarded.url, token=TOKEN) as client:
        client.reset()
        yield client
        client.reset()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_control/health"),
        ("POST", "/_control/reset"),
        ("GET", "/_control/ledger"),
        ("POST", "/_control/rules"),
        ("GET", "/_control/nowhere"),
        ("GET", "/_control"),
    ],
)
def test_control_without_the_right_token_is_401_with_a_json_error(
    guarded: ProviderServer, method: str, path: str
) -> None:
    for token in (None, WRONG, ""):
        answer = requests.request(
            method, guarded.url + path, headers=_headers(token), json={"status": 500}, timeout=5
        )
        assert answer.status_code == 401, (token, answer.text)
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["www-authenticate"] == WWW_AUTHENTICATE
        assert TOKEN_ENV in answer.json()["error"]
        assert TOKEN not in answer.text


def test_control_with_the_token_answers(control: ProviderClient, guarded: ProviderServer) -> None:
    answer = requests.get(f"{guarded.url}/_control/health", headers=_headers(TOKEN), timeout=5)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    assert requests.get(f"{guarded.url}/_control/rules", headers=_headers(TOKEN), timeout=5).json() == []
    assert control.rules() == []  # nothing was added by the refused POSTs above


def test_work_and_listing_endpoints_stay_open(control: ProviderClient, guarded: ProviderServer) -> None:
    target = Target(guarded.url)
    try:
        assert target.generate("item-1").status_code == 200
        assert target.listing().status_code == 200
        assert target.generate("item-1", headers={"Authorization": "Bearer nonsense"}).status_code == 200
    finally:
        target.session.close()
    assert [e.item_id for e in control.ledger()] == ["item-1", None, "item-1"]


def test_clients_send_the_token_explicit_or_from_the_environment(
    control: ProviderClient, guarded: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    rule_id = control.add_rule("item-9", status=503)
    with ProviderClient(guarded.url) as anonymous, pytest.raises(ProviderError) as refused:
        anonymous.remove_rule(rule_id)
    assert "answered 401" in str(refused.value) and TOKEN_ENV in str(refused.value)
    assert TOKEN not in str(refused.value)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with ProviderClient(guarded.url) as from_env:
        from_env.wait_until_ready(timeout=5)
        assert [rule.id for rule in from_env.rules()] == [rule_id]


def test_held_calls_and_aborts_still_work_behind_the_guard(
    control: ProviderClient, guarded: ProviderServer
) -> None:
    """The middleware must not come between the work endpoint and its receive channel."""
    background = Background(guarded.url)
    try:
        with control.barrier("item-2") as gate:
            held = background.generate("item-2")
            gate.wait(timeout=5)
        assert held.result(timeout=5).status_code == 200
        control.add_rule("item-3", hang=True)
        target = Target(guarded.url)
        with pytest.raises(requests.Timeout):
            target.generate("item-3", timeout=0.3)
        target.session.close()
        aborted = eventually(
            lambda: [e for e in control.ledger() if e.item_id == "item-3" and e.outcome == Outcome.ABORTED],
            what="the hanging call recorded as aborted once its client gave up",
        )
        assert len(aborted) == 1
    finally:
        control.reset()
        background.pool.shutdown(wait=True)


def test_an_open_server_ignores_a_token_it_does_not_ask_for(
    provider: ProviderClient, provider_server: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with ProviderClient(provider_server.url) as client:
        assert client.health()
    assert requests.get(f"{provider_server.url}/_control/health", timeout=5).status_code == 200


def test_in_process_server_refuses_a_non_loopback_host_without_a_token() -> None:
    with pytest.raises(ConfigError) as refused:
        ProviderServer("0.0.0.0", 0)
    assert refused.value.field == TOKEN_ENV


def test_non_loopback_with_a_token_serves_and_asks_for_it() -> None:
    """Bound to 0.0.0.0 for a moment only; every request goes to 127.0.0.1."""
    with ProviderServer("0.0.0.0", 0, token=TOKEN) as server:
        local = f"http://127.0.0.1:{server.port}"
        assert requests.get(f"{local}/_control/health", timeout=5).status_code == 401
        with ProviderClient(local, token=TOKEN) as client:
            assert client.health()


def _start(*args: str, token: str | None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "provider", *args],
        cwd=REPO,
        env=_env(token),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_refuses_a_non_loopback_host_without_the_variable() -> None:
    for env_value in (None, ""):
        process = _start("--host", "0.0.0.0", "--port", "0", token=env_value)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 2, err
        assert out == ""  # never got as far as listening
        assert err.startswith("chaos-audit: error: refusing to serve the mock provider's control API")
        assert TOKEN_ENV in err and "Traceback" not in err


def test_cli_enforces_a_token_set_on_loopback_and_never_logs_it() -> None:
    process = _start("--host", "127.0.0.1", "--port", "0", "--log-level", "debug", token=TOKEN)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("chaos-audit provider: listening on http://127.0.0.1:"), line
        url = line.strip().rsplit(" ", 1)[1]
        for token in (None, WRONG):
            answer = requests.get(f"{url}/_control/health", headers=_headers(token), timeout=5)
            assert answer.status_code == 401
        with ProviderClient(url, token=TOKEN) as client:
            client.wait_until_ready(timeout=5)
            client.add_rule("item-1", status=500)
            client.reset()
        target = Target(url)
        assert target.generate("item-1").status_code == 200
        target.session.close()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(5)
    assert process.returncode == 0
    assert "control API: token required" in err and "uvicorn" in err  # the debug log did run
    for secret in (TOKEN, WRONG):
        assert secret not in out and secret not in err
