"""``harness.held`` against the real mock provider: a held call its caller's own timeout ends is seen
as ended (and not answered with success), and the scenario is then unknown naming the timing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, NoReturn

import pytest
import requests
from provider_testkit import Background, eventually

from harness.checkers.ledger import successful
from harness.faults.provider.client import ProviderClient
from harness.held import answered, cut_short, still_held


class Audit:
    """What the helpers read of a scenario run: its provider, its stack's timing, ``unknown``."""

    def __init__(self, provider: ProviderClient, timeout_s: float) -> None:
        self.provider = provider
        self.stack = SimpleNamespace(timing={"provider_timeout_s": timeout_s})

    def unknown(self, reason: str) -> NoReturn:
        pytest.skip(reason)


def audit_of(provider: ProviderClient, timeout_s: float) -> Any:
    return Audit(provider, timeout_s)


def test_a_call_its_caller_gives_up_on_is_no_longer_held_and_not_answered(
    provider: ProviderClient, background: Background
) -> None:
    audit = audit_of(provider, 0.3)
    with provider.barrier("item-1") as held:
        call = background.generate("item-1", timeout=0.3)  # the caller's provider timeout
        held.wait(timeout=5)
        assert still_held(held)
        assert answered(audit, held.id) is None
        with pytest.raises(requests.ReadTimeout):
            call.result(timeout=5)
        ended = eventually(lambda: answered(audit, held.id), what="the call recorded as ended")
        assert not still_held(held)
    assert ended["outcome"] == "aborted" and not successful(ended)


def test_a_call_released_within_its_timeout_is_answered_with_success(
    provider: ProviderClient, background: Background
) -> None:
    audit = audit_of(provider, 5.0)
    with provider.barrier("item-2") as held:
        call = background.generate("item-2", timeout=5.0)
        held.wait(timeout=5)
        held.release()
        assert call.result(timeout=5).status_code == 200
    ended = eventually(lambda: answered(audit, held.id), what="the call recorded as answered")
    assert successful(ended) and not still_held(held)


def test_cut_short_is_unknown_naming_the_timing_and_its_value(provider: ProviderClient) -> None:
    with pytest.raises(pytest.skip.Exception) as stopped:
        cut_short(audit_of(provider, 1.0), "the client was dropped")
    reason = str(stopped.value)
    assert reason.startswith("timing.provider_timeout_s:")
    assert "(1.0 s)" in reason and "before the client was dropped" in reason
