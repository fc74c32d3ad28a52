"""Every placeholder and reference of a target file is resolved when it is loaded (exit 2, nothing
started), and the tables of allowed placeholders match what the harness really passes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from harness.errors import ConfigError
from harness.stack.local import LocalStack
from harness.target.load import load_target, parse_target
from harness.target.model import Control, Observe
from harness.target.placeholders import CALL_VALUES, service_values
from harness.target.workflow_model import WorkflowContract


def reference_data() -> dict[str, Any]:
    _, path = load_target(None)
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def _error(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        parse_target(data, source="t.yaml")
    return err.value


@pytest.mark.parametrize(
    ("mutate", "field", "says"),
    [
        (lambda d: d["services"]["api"]["env"].update(REFTARGET_LEASE_S="{timing.nope}"),
         "services.api.env.REFTARGET_LEASE_S", "unknown placeholder {timing.nope}"),
        (lambda d: d["services"]["worker-1"]["command"].append("--db={dburl}"),
         "services.worker-1.command[3]", "known here: {db_url}, {defects}"),
        (lambda d: d["services"]["api"]["env"].update(BROKER="{broker_url}"),
         "services.api.env.BROKER", "needs a service with role: broker"),
        (lambda d: d["trigger"]["create"].update(body={"items": [{"count": "{count}"}]}),
         "trigger.create.body.items[0].count", "known here: {n}, {priority}"),
        (lambda d: d["control"]["retry_item"].update(path="/v1/items/{batch_id}/retry"),
         "control.retry_item.path", "known here: {item_id}"),
        (lambda d: d["observe"]["health"].update(path="/health/{service}"), "observe.health.path", "none"),
        (lambda d: d["observe"].update(page="/b/{id}"), "observe.page", "{batch_id}"),
        (lambda d: d["workflow"].update(provider_item="{workflow}/{step}"), "workflow.provider_item",
         "{workflow}"),
        (lambda d: d["logs"].update(paths={"wrker-1": "/var/log/w.log"}), "logs.paths.wrker-1",
         "unknown service 'wrker-1'"),
        (lambda d: d["services"]["api"].update(ready={"http": "health"}), "services.api.ready.http",
         "starting with '/'"),
    ],
)  # fmt: skip
def test_a_wrong_placeholder_or_reference_is_named_at_load(mutate: Any, field: str, says: str) -> None:
    data = reference_data()
    mutate(data)
    err = _error(data)
    assert err.field == field
    assert field in str(err) and says in str(err)


def test_every_problem_is_listed_and_the_first_is_the_field() -> None:
    data = reference_data()
    data["services"]["api"]["env"]["A"] = "{nope}"
    data["control"]["result"]["path"] = "/r/{batch_id}?wait={wiat}"
    err = _error(data)
    assert err.field == "services.api.env.A"
    assert "control.result.path: unknown placeholder {wiat}" in str(err)


def test_broker_url_is_known_when_the_target_has_a_broker() -> None:
    data = reference_data()
    data["services"]["broker"] = {"role": "broker", "args": ["--port", "{port}"]}
    data["services"]["api"]["env"]["BROKER"] = "{broker_url}"
    assert parse_target(data, source="t.yaml").services["api"].env["BROKER"] == "{broker_url}"


def test_the_shipped_target_files_load() -> None:
    for path in (None, "harness/target/compose.yaml"):
        load_target(path)


def test_every_http_call_of_the_contract_has_its_placeholders_listed() -> None:
    # A call added to the model must be added to CALL_VALUES, or its placeholders go unchecked.
    def calls(model: type, prefix: str) -> set[str]:
        return {
            f"{prefix}.{name}"
            for name, f in model.model_fields.items()  # type: ignore[attr-defined]
            if "HttpCall" in str(f.annotation)
        }

    declared = calls(Observe, "observe") | calls(Control, "control") | calls(WorkflowContract, "workflow")
    assert declared | {"trigger.create"} == set(CALL_VALUES)


def test_the_service_placeholders_are_what_the_backends_pass(tmp_path: Path) -> None:
    target, _ = load_target(None)
    infra = SimpleNamespace(provider=None, proxy=None, work_dir=tmp_path, pg=SimpleNamespace(port=5432),
                            provider_port=9000)  # fmt: skip
    stack = LocalStack(infra, target)  # type: ignore[arg-type]
    stack._proxies = {name: "127.0.0.1:7001" for name in target.links}
    stack._timing = target.timing.model_dump()  # what _prepare() sets from the scenario's timing
    assert set(stack._values_for("api", 8080)) == service_values(target)
