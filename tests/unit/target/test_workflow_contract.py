"""The ``workflow:`` section of a target file: it loads, its mistakes are named, its absence is
a missing capability (the TEST-WR-* scenarios become unknown), and the client reads through it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from harness.errors import CapabilityMissing, ConfigError
from harness.target.client import Answer, TargetClient
from harness.target.load import load_target, parse_target
from harness.target.workflow_client import WorkflowClient


def reference_data() -> dict[str, Any]:
    _, path = load_target(None)
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_the_reference_target_has_a_workflow_contract() -> None:
    target, _ = load_target(None)
    wf = target.workflow
    assert wf is not None and wf.recover is not None and wf.auth.admin
    assert (wf.steps.first, wf.steps.call, wf.steps.optional) == ("fetch", "generate", "enrich")
    assert wf.timing.max_recoveries == 2


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["workflow"]["steps"].update(call="render"), "workflow.steps"),
        (lambda d: d["workflow"]["auth"].pop("owner"), "workflow.auth.owner"),
        (lambda d: d["workflow"]["timing"].update(inactivity_s=0), "workflow.timing.inactivity_s"),
        (lambda d: d["workflow"].update(recovr={"path": "/x"}), "workflow.recovr"),
    ],
)
def test_a_wrong_workflow_field_is_named(mutate: Any, field: str) -> None:
    data = reference_data()
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_target(data, source="t.yaml")
    assert field in str(err.value)


def test_a_target_without_the_section_lacks_the_capability() -> None:
    data = reference_data()
    data.pop("workflow")
    target = parse_target(data, source="t.yaml")
    with pytest.raises(CapabilityMissing, match="'workflow'"):
        WorkflowClient.of(TargetClient(target, "http://127.0.0.1:9"))
    data = reference_data()
    data["workflow"].pop("recover")
    data["workflow"]["auth"].pop("other_user")
    client = WorkflowClient.of(TargetClient(parse_target(data, source="t.yaml"), "http://127.0.0.1:9"))
    with pytest.raises(CapabilityMissing, match=r"workflow\.recover"):
        client.recover("w1")
    with pytest.raises(CapabilityMissing, match=r"workflow\.auth\.other_user"):
        client.get("w1", who="other")


class Canned(TargetClient):
    """Answers every call with one body (no network)."""

    def __init__(self, target: Any, body: Any) -> None:
        super().__init__(target, "http://127.0.0.1:9")
        self.body, self.seen = body, []  # type: ignore[var-annotated]

    def call(self, f: str, call: Any, values: Any, *, headers: Any = None, timeout: float = 10.0) -> Answer:
        self.seen.append((f, dict(values), dict(headers or {})))
        return Answer(status=200, body=self.body)


def test_the_client_maps_states_and_fields_and_sends_the_credentials() -> None:
    data = reference_data()
    data["workflow"]["state_map"] = {"succeeded": "completed", "active": "running"}
    data["workflow"]["fields"] = {"status": "state", "steps": "stages"}
    target = parse_target(data, source="t.yaml")
    body = {
        "id": "w1",
        "state": "succeeded",
        "stages": [{"name": "fetch", "status": "active", "attempts": 1}],
    }
    canned = Canned(target, body)
    view = WorkflowClient.of(canned).get("w1", who="admin")
    assert view.state == "completed" and view.steps["fetch"].state == "running"
    assert canned.seen == [("workflow.get", {"workflow_id": "w1"}, {"Authorization": "Bearer token-admin"})]
    assert WorkflowClient.of(canned).provider_item("w1", "generate") == "w1/generate"
