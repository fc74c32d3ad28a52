"""The backend registry and the lifecycle every entry point opens stacks with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError, ProviderError
from harness.history import History
from harness.stack.backends import BACKENDS, backend_names, get_backend
from harness.stack.lifecycle import Lifecycle, audited, open_stack, should_sample
from harness.target.load import load_target


class LedgerStack:
    """What a lifecycle reads of a stack: its target, provider ledger and the primitives faults use."""

    def __init__(self, *, ledger_fails: bool = False) -> None:
        self.target, _ = load_target(None)
        self.db_dsn = ""
        self.started = ["worker-1"]
        self.left_out: set[str] = set()
        self.calls: list[str] = []
        self.ledger_fails = ledger_fails
        self.provider = self

    def ledger(self) -> list[dict[str, Any]]:
        self.calls.append("ledger")
        if self.ledger_fails:
            raise ProviderError("the provider is gone")
        return [{"seq": 1, "item_id": "i-1"}]

    def process(self, name: str) -> LedgerStack:
        return self

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")


def test_the_backends_by_name() -> None:
    assert backend_names() == ("local", "docker", "external")
    assert [b.starts_services for b in BACKENDS.values()] == [True, True, False]
    with pytest.raises(ConfigError, match=r"unknown backend 'k8s' \(backends: local, docker, external\)"):
        get_backend("k8s")


def test_a_running_stack_is_sampled_only_when_its_file_gives_the_items_query() -> None:
    target, _ = load_target(None)
    assert should_sample("local", target) and should_sample("docker", target)
    assert should_sample("external", target) == ("items" in target.database.observations)


def _observing(target: Any, observations: dict[str, str | None]) -> Any:
    """The target with its database observations replaced."""
    return target.model_copy(
        update={"database": target.database.model_copy(update={"observations": observations})}
    )


def test_a_target_with_nothing_to_sample_gets_no_sampler() -> None:
    target, _ = load_target(None)
    blind = _observing(target, {"items": None, "batches": None})
    assert not should_sample("local", blind) and not should_sample("external", blind)
    batches_only = _observing(target, {**target.database.observations, "items": None})
    assert should_sample("local", batches_only)  # its batch lanes are still worth a sampler


def test_closing_heals_then_adds_the_ledger_and_saves_the_history(tmp_path: Path) -> None:
    stack = LedgerStack()
    life = Lifecycle(stack, History())  # type: ignore[arg-type]
    errors: list[list[str]] = []
    path = tmp_path / "histories" / "TEST-X.jsonl"
    with audited(life, sample=False, history_path=path, on_errors=errors.append):
        life.faults.pause("worker-1")
    assert stack.calls == ["pause", "resume", "ledger"]  # healed before the ledger is read
    assert errors == []
    saved = History.load(path)
    assert [(f.name, f.phase.value) for f in saved.faults()] == [("pause", "start"), ("pause", "heal")]
    assert len(saved.ledger()) == 1


def test_a_ledger_that_cannot_be_read_is_an_error_reported_not_raised() -> None:
    stack = LedgerStack(ledger_fails=True)
    errors: list[list[str]] = []
    with audited(Lifecycle(stack, History()), sample=False, on_errors=errors.append):  # type: ignore[arg-type]
        pass
    assert errors == [["ledger: the provider is gone"]]


def test_a_running_stack_is_refused_before_anything_is_reached() -> None:
    target, _ = load_target(None)
    defect = open_stack(target, "external", seed=1, defects=["no_fencing"])
    with pytest.raises(ConfigError, match="--defect needs a stack the harness starts"), defect:
        pytest.fail("nothing may start")
    unsafe = open_stack(target, "external", seed=1, say=lambda line: None)
    with pytest.raises(ConfigError) as refused, unsafe:
        pytest.fail("nothing may start")
    assert refused.value.field is not None and "safety" in refused.value.field
