"""Fixtures of rqtarget's tests: the real thing, started by the harness's local backend from
``fixtures/rqtarget/target.yaml`` (real PostgreSQL, real Redis, real RQ workers, the real mock
provider), so these tests also prove the harness's broker support."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.stack.infra import LocalInfra
from harness.stack.local import LocalStack
from harness.target.load import parse_target
from harness.target.model import Database, Observe, Target

TARGET_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "rqtarget" / "target.yaml"


def load_rqtarget() -> Target:
    """The target file, validated. Sections of the observation contract that this version of the
    model does not know yet (being added in parallel) are set aside, never silently invented."""
    data: dict[str, Any] = yaml.safe_load(TARGET_FILE.read_text())
    for section, model in (("observe", Observe), ("database", Database)):
        for key in set(data[section]) - set(model.model_fields):
            data[section].pop(key)
    return parse_target(data, source=str(TARGET_FILE))


@pytest.fixture(scope="session")
def infra() -> Iterator[LocalInfra]:
    infra = LocalInfra()
    infra.start()
    yield infra
    infra.close()


@pytest.fixture
def make_stack(infra: LocalInfra) -> Iterator[Callable[..., LocalStack]]:
    """``make_stack(defects=[...], services=[...], timing={...})``: a started stack, closed after."""
    stacks: list[LocalStack] = []

    def make(
        *, defects: tuple[str, ...] = (), services: list[str] | None = None, **timing: Any
    ) -> LocalStack:
        stack = LocalStack(infra, load_rqtarget(), defects=defects)
        stacks.append(stack)
        stack.start(services=services, timing=timing or None)
        return stack

    yield make
    for stack in stacks:
        stack.close()
