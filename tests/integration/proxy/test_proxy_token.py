"""The proxy's API behind the control token: 401 without it, clients send it, no start without it
off loopback, and the secret never reaches the log.

Every server here listens on 127.0.0.1, except one in-process server that binds 0.0.0.0 for a
moment, with a token, and is only ever spoken to on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from proxy_net import TcpServer, connect, recv_exact

from harness.errors import ConfigError, ProxyError
from harness.faults.control_token import TOKEN_ENV, WWW_AUTHENTICATE
from harness.faults.proxy.client import ProxyClient
from harness.faults.proxy.server import ProxyServer
from harness.process.readiness import HttpReady, ReadinessContext

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "proxy-test-token-4f1c9a0e7d2b"
WRONG = TOKEN[:-1] + "X"  # a near miss: must be refused, and must not be logged either


def _env(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    return env if token is None else {**env, TOKEN_ENV: token}


@pytest.fixture
def guarded() -> Iterator[ProxyServer]:
    with ProxyServer(host="127.0.0.1", port=0, seed=1, token=TOKEN) as server:
        yield server


def _get(url: str, token: str | None = None, path: str = "/proxies") -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return requests.get(url + path, headers=headers, timeout=5)


@pytest.mark.parametrize("path", ["/proxies", "/version", "/nowhere"])
def test_no_token_or_a_wrong_one_is_401_with_a_json_error(guarded: ProxyServer, path: str) -> None:
    for token in (None, WRONG, ""):
        answer = _get(guarded.url, token, path)
        assert answer.status_code == 401, (token, answer.text)
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
        body = answer.json()
        assert body["status"] == 401 and TOKEN_ENV in body["error"]
        assert TOKEN not in answer.text
    basic = requests.get(guarded.url + path, auth=("user", TOKEN), timeout=5)
    assert basic.status_code == 401


def test_the_right_token_is_served_as_usual(guarded: ProxyServer) -> None:
    assert _get(guarded.url, TOKEN).json() == {}
    assert _get(guarded.url, TOKEN, "/version").status_code == 200
    assert _get(guarded.url, TOKEN, "/nowhere").status_code == 404  # then Toxiproxy's own routing


def test_a_refused_body_leaves_the_keep_alive_connection_usable(guarded: ProxyServer) -> None:
    with requests.Session() as session:
        body = {"name": "x", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}
        refused = session.post(f"{guarded.url}/proxies", json=body, timeout=5)
        assert refused.status_code == 401
        assert guarded.proxies.all() == []
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert (
            session.post(f"{guarded.url}/proxies", json=body, headers=headers, timeout=5).status_code == 201
        )


def test_clients_send_the_token_explicit_or_from_the_environment(
    guarded: ProxyServer, echo: TcpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with ProxyClient(guarded.url, token=TOKEN) as client:
        proxy = client.create_proxy("db", "127.0.0.1:0", f"127.0.0.1:{echo.port}")
        client.add_toxic("db", "latency", {"latency": 1}, name="slow")
    with ProxyClient(guarded.url) as client, pytest.raises(ProxyError) as refused:
        client.proxies()
    assert refused.value.status == 401 and TOKEN_ENV in str(refused.value)
    assert TOKEN not in str(refused.value)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with ProxyClient(guarded.url) as client:
        assert [t.name for t in client.toxics("db")] == ["slow"]
        client.remove_toxic("db", "slow")
    # the proxied listener is data, not control: no token asked there
    with connect(proxy.port) as sock:
        sock.sendall(b"ping")
        assert recv_exact(sock, 4) == b"ping"


def test_an_open_loopback_server_ignores_a_token_it_does_not_ask_for(
    server: ProxyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the official Toxiproxy does too: a client with a token drives an unguarded server."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with ProxyClient(server.url) as client:
        assert client.proxies() == {}
    assert _get(server.url).status_code == 200


def test_readiness_probe_sends_the_token(guarded: ProxyServer) -> None:
    context = ReadinessContext()
    assert HttpReady(f"{guarded.url}/version").check(context) == "status 401 (expected 200)"
    probe = HttpReady(f"{guarded.url}/version", headers={"Authorization": f"Bearer {TOKEN}"})
    assert probe.check(context) is None


def test_in_process_server_refuses_a_non_loopback_host_without_a_token() -> None:
    with pytest.raises(ConfigError) as refused:
        ProxyServer(host="0.0.0.0", port=0)
    assert refused.value.field == TOKEN_ENV


def test_non_loopback_with_a_token_serves_and_asks_for_it() -> None:
    """Bound to 0.0.0.0 for a moment only; every request goes to 127.0.0.1."""
    with ProxyServer(host="0.0.0.0", port=0, token=TOKEN) as server:
        local = f"http://127.0.0.1:{server.address[1]}"
        assert _get(local).status_code == 401
        assert _get(local, TOKEN).status_code == 200


@pytest.mark.parametrize(
    ("command", "prog"),
    [
        ([sys.executable, "-m", "harness.cli", "proxy"], "chaos-audit"),
        ([sys.executable, "-m", "harness.faults.proxy"], "python -m harness.faults.proxy"),
    ],
    ids=["chaos-audit", "python-m"],
)
def test_cli_refuses_a_non_loopback_host_without_the_variable(command: list[str], prog: str) -> None:
    for env_value in (None, ""):
        done = subprocess.run(
            [*command, "--host", "0.0.0.0", "--port", "0"],
            cwd=ROOT,
            env=_env(env_value),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""  # never got as far as listening
        assert done.stderr.startswith(f"{prog}: error: refusing to serve the proxy API on 0.0.0.0")
        assert TOKEN_ENV in done.stderr and "Traceback" not in done.stderr


@contextmanager
def _running(*args: str, token: str | None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.faults.proxy", "--port", "0", *args],
        cwd=ROOT,
        env=_env(token),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        yield proc, line.strip().rsplit(" ", 1)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_cli_enforces_a_token_set_on_loopback_and_never_logs_it(echo: TcpServer) -> None:
    with _running("--log-level", "debug", token=TOKEN) as (proc, url):
        assert _get(url).status_code == 401
        assert _get(url, WRONG).status_code == 401
        with ProxyClient(url, token=TOKEN) as client:
            client.create_proxy("db", "127.0.0.1:0", f"127.0.0.1:{echo.port}")
            client.add_toxic("db", "timeout", {"timeout": 0})
            client.reset()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "API token: required" in err and "db listening on" in err  # the log did run
    for secret in (TOKEN, WRONG):
        assert secret not in out and secret not in err
