"""The control token rules shared by the proxy and the provider (harness/faults/control_token.py)."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.faults.control_token import (
    TOKEN_ENV,
    authorized,
    bearer_headers,
    client_token,
    control_headers,
    is_loopback,
    server_token,
    token_from_env,
)
from harness.process.readiness import HttpReady

TOKEN = "0123456789abcdef-test-token"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "", "10.1.2.3", "192.168.0.7", "staging.example", "fe80::1"]
)
def test_every_other_host_is_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_env_token_empty_counts_as_unset() -> None:
    assert token_from_env({TOKEN_ENV: TOKEN}) == TOKEN
    assert token_from_env({TOKEN_ENV: ""}) is None
    assert token_from_env({}) is None


def test_client_token_explicit_wins_and_empty_sends_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert client_token() == TOKEN
    assert client_token("other") == "other"
    assert client_token("") is None
    assert control_headers() == {"Authorization": f"Bearer {TOKEN}"}
    monkeypatch.delenv(TOKEN_ENV)
    assert client_token() is None
    assert control_headers() == bearer_headers(None) == {}


def test_server_token_loopback_may_go_without() -> None:
    assert server_token("127.0.0.1", None, what="x") is None
    assert server_token("127.0.0.1", "", what="x") is None
    assert server_token("127.0.0.1", TOKEN, what="x") == TOKEN  # opt-in: enforced on loopback too
    assert server_token("0.0.0.0", TOKEN, what="x") == TOKEN


@pytest.mark.parametrize("host", ["0.0.0.0", "", "10.1.2.3", "staging.example"])
def test_server_token_refuses_a_non_loopback_host_without_one(host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        server_token(host, None, what="proxy API")
    assert caught.value.field == TOKEN_ENV
    assert TOKEN_ENV in str(caught.value)
    assert "proxy API" in str(caught.value)


@pytest.mark.parametrize("bad", ["with space", "tab\there", "new\nline", "caf\u00e9"])
def test_server_token_must_travel_in_a_header(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        server_token("127.0.0.1", bad, what="x")
    assert bad not in str(caught.value)  # not even a malformed secret is echoed


def test_authorized() -> None:
    assert authorized(f"Bearer {TOKEN}", TOKEN)
    assert authorized(f"bearer {TOKEN}", TOKEN)  # the scheme is case-insensitive (RFC 7235)
    assert authorized(f"  Bearer   {TOKEN} ", TOKEN)
    assert not authorized(None, TOKEN)
    assert not authorized("", TOKEN)
    assert not authorized(TOKEN, TOKEN)  # no scheme
    assert not authorized(f"Basic {TOKEN}", TOKEN)
    assert not authorized(f"Bearer {TOKEN}x", TOKEN)
    assert not authorized(f"Bearer {TOKEN[:-1]}", TOKEN)
    assert not authorized("Bearer ", TOKEN)
    assert not authorized("Bearer caf\u00e9", TOKEN)  # non-ASCII must not raise (compare_digest on str would)


def test_readiness_probe_headers_stay_out_of_its_repr() -> None:
    probe = HttpReady("http://127.0.0.1:1/version", headers=bearer_headers(TOKEN))
    assert TOKEN not in repr(probe)
    assert probe == HttpReady("http://127.0.0.1:1/version")
