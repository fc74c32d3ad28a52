"""Heal before inject, on real parts: a Ctrl-C landing right after a fault took effect still heals.

A real process is SIGSTOPped and a real mock provider takes a rule; the interrupt is raised the
moment the fault is in place (after the SIGSTOP landed, after the provider answered the rule's
POST), before the injector could take another step. Registering the heal only after injecting
(as pause and the provider faults once did) leaves the process frozen and the rule in place.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.faults.injector import Faults
from harness.faults.provider.client import ProviderClient
from harness.faults.provider.server import ProviderServer
from harness.history import History
from harness.process.service import ProcessService
from harness.target.load import load_target


class Interrupted(BaseException):
    """The Ctrl-C that lands right after the fault was injected."""


class InterruptedAfterPause(ProcessService):
    def pause(self) -> None:
        super().pause()
        raise Interrupted("after SIGSTOP")


class InterruptedAfterRule(ProviderClient):
    def add_rule(self, *args: Any, **kwargs: Any) -> str:
        rule_id = super().add_rule(*args, **kwargs)
        raise Interrupted(f"after adding rule {rule_id}")


class OneWorkerStack:
    """The reference target's file, one real process standing for worker-1, a real mock provider."""

    def __init__(self, worker: ProcessService, provider: ProviderClient) -> None:
        self.target, _ = load_target(None)
        self.worker = worker
        self.provider = provider
        self.started = ["worker-1"]

    def process(self, name: str) -> ProcessService:
        assert name == "worker-1"
        return self.worker


def state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2]


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[InterruptedAfterPause]:
    argv = [sys.executable, "-c", "import time; time.sleep(120)"]
    svc = InterruptedAfterPause("worker-1", argv, log_path=tmp_path / "worker-1.log")
    svc.start()
    yield svc
    svc.kill()


@pytest.fixture
def provider_url() -> Iterator[str]:
    with ProviderServer("127.0.0.1", 0) as server:
        yield server.url


def test_pause_interrupted_right_after_sigstop_is_resumed(worker: ProcessService, provider_url: str) -> None:
    history = History()
    with ProviderClient(provider_url) as provider:
        faults = Faults(OneWorkerStack(worker, provider), history)  # type: ignore[arg-type]
        with pytest.raises(Interrupted):
            faults.pause("worker-1")
        assert worker.pid is not None and state(worker.pid) == "T"  # frozen, as the fault wanted
        assert faults.heal_all() == []
    assert state(worker.pid) != "T"
    assert [(f.name, f.phase.value) for f in history.faults()] == [("pause", "start"), ("pause", "heal")]


@pytest.mark.parametrize(
    ("fault", "params"), [("provider_outage", {"status": 503}), ("provider_hang", {"nth": 2})]
)
def test_provider_fault_interrupted_right_after_the_rule_was_added_is_removed(
    worker: ProcessService, provider_url: str, fault: str, params: dict[str, Any]
) -> None:
    with ProviderClient(provider_url) as control, InterruptedAfterRule(provider_url) as provider:
        faults = Faults(OneWorkerStack(worker, provider), History())  # type: ignore[arg-type]
        with pytest.raises(Interrupted):
            faults.inject(fault, **params)
        assert len(control.rules()) == 1  # the provider took the rule
        assert faults.heal_all() == []
        assert control.rules() == []


def test_a_scenario_rule_interrupted_after_the_provider_took_it_is_removed(provider_url: str) -> None:
    with ProviderClient(provider_url) as control, InterruptedAfterRule(provider_url) as provider:
        with pytest.raises(Interrupted), provider.rule("item-7", status=422):
            pass
        assert control.rules() == []
