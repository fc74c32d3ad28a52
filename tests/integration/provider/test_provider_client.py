"""The typed client against the real server: heals in ``finally``, and every failure is a ProviderError."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
import requests
from provider_testkit import Background, Target

from harness.errors import ProviderError
from harness.faults.provider.client import ProviderClient
from harness.faults.provider.model import ProviderConfig


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_rule_context_removes_the_rule_even_on_error(provider: ProviderClient, target: Target) -> None:
    with pytest.raises(RuntimeError), provider.rule("item-1", status=500) as rule_id:
        assert [r.id for r in provider.rules()] == [rule_id]
        assert target.generate("item-1").status_code == 500
        raise RuntimeError("scenario step failed")

    assert provider.rules() == []
    assert target.generate("item-1").status_code == 200


def test_barrier_context_releases_held_calls_even_on_error(
    provider: ProviderClient, background: Background
) -> None:
    with pytest.raises(RuntimeError), provider.barrier("item-8") as gate:
        held = background.generate("item-8")
        gate.wait(timeout=5)
        raise RuntimeError("fault injection failed")

    assert held.result(timeout=5).status_code == 200
    assert gate.state().released


def test_heal_after_a_reset_is_not_an_error(provider: ProviderClient) -> None:
    with provider.rule(status=500), provider.barrier("item-1"):
        provider.reset()  # heals everything first; the context managers find nothing left


def test_configure_returns_the_whole_config(provider: ProviderClient) -> None:
    config = provider.configure(listing_page_size=7, listing_never_ending=True)

    assert config == ProviderConfig(listing_page_size=7, listing_never_ending=True)
    assert provider.config() == config


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: p.configure(listing_totl=3), "unknown field"),
        (lambda p: p.configure(listing_page_size=0), "listing_page_size"),
        (lambda p: p.add_rule(status=700), "status"),
        (lambda p: p.add_rule(hang=True, trickle_ms=10), "exclude"),
        (lambda p: p.add_rule(attempt=0), "attempt"),
        (lambda p: p.remove_rule("r999"), "404.*no rule r999"),
    ],
)
def test_refusals_become_provider_errors_naming_the_field(
    provider: ProviderClient, call: Callable[[ProviderClient], object], message: str
) -> None:
    with pytest.raises(ProviderError, match=message):
        call(provider)


def test_unreachable_provider_is_a_provider_error_from_requests() -> None:
    with ProviderClient(_closed_port_url(), timeout=1) as client, pytest.raises(ProviderError) as caught:
        client.health()

    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert "hint:" in str(caught.value)


def test_wait_until_ready_says_what_it_tried() -> None:
    url = _closed_port_url()
    started = time.monotonic()

    with ProviderClient(url) as client, pytest.raises(ProviderError) as caught:
        client.wait_until_ready(timeout=0.2)

    assert time.monotonic() - started < 5  # its own 0.2 s, not the 10 s default (room for a loaded machine)
    message = str(caught.value)
    assert url in message and "GET /_control/health tried" in message
    assert "hint:" in message.rsplit(";", 1)[-1]


def test_wait_until_ready_returns_for_a_running_provider(provider: ProviderClient) -> None:
    provider.wait_until_ready(timeout=30)
