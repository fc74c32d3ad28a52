"""The observation contract from the file alone: declared needs, answer fields, log events, defects.

Each test gives a literal target file (the reference target's, with one thing changed) and checks
what the contract says: a missing field is named, a present one is answered, nothing else moves.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from harness.errors import ConfigError, ObservationMissing
from harness.run.plan import scenarios_dir
from harness.target.client import ItemView
from harness.target.load import load_target, parse_target
from harness.target.needs import scenario_needs, undeclared, unmet
from harness.target.observe import Observer


def reference_data() -> dict[str, Any]:
    _, path = load_target(None)
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def with_change(path: str, value: Any) -> Any:
    """The reference target's file with ``path`` (dotted) set to ``value``."""
    data = reference_data()
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return parse_target(data, source="t.yaml")


def item(raw: dict[str, Any]) -> ItemView:
    return ItemView(id="i1", seq=1, state="completed", raw=raw)


#: the reference target's log events with one moment (ownership_lost) left out
EVENTS_BUT_OWNERSHIP_LOST = {
    k: v for k, v in reference_data()["logs"]["events"].items() if k != "ownership_lost"
}


# -- needs: what the file declares -------------------------------------------------------------------
def test_the_reference_target_declares_every_need_of_every_scenario() -> None:
    target, _ = load_target(None)
    for s in scenario_needs(scenarios_dir()):
        assert unmet(target, s.needs) == [], s.id


def test_every_scenario_declares_its_needs() -> None:
    found = scenario_needs(scenarios_dir())
    assert len({s.id for s in found}) == len(found) >= 26
    assert all(s.needs for s in found), [s.id for s in found if not s.needs]


@pytest.mark.parametrize(
    ("path", "value", "need", "why"),
    [
        ("observe.item_fields.holder", None, "observe.item_fields.holder", "null in"),
        ("database.observations.transitions", None, "database.observations.transitions", "null"),
        ("database.invariants.duplicate_outputs", None, "database.invariants.duplicate_outputs", "null"),
        ("control.retry_item", None, "control.retry_item", "null in"),
        ("observe.metrics", None, "observe.metrics", "null in"),
        ("logs.events", EVENTS_BUT_OWNERSHIP_LOST, "logs.events.ownership_lost", "not given"),
        ("logs.correlation_field", None, "logs.correlation_field", "null in"),
        ("logs.item_field", None, "logs.item_field", "null in"),
        ("workflow", None, "workflow", "no workflow"),
    ],
)
def test_a_removed_field_is_named_and_nothing_else_moves(path: str, value: Any, need: str, why: str) -> None:
    target = with_change(path, value)
    assert why in (undeclared(target, need) or "")
    reference, _ = load_target(None)
    others = {n for s in scenario_needs(scenarios_dir()) for n in s.needs} - {need}
    changed = {n for n in others if (undeclared(target, n) is None) != (undeclared(reference, n) is None)}
    assert changed == set()


def test_services_links_and_the_database_by_role() -> None:
    target, _ = load_target(None)
    assert undeclared(target, "services.worker*2") is None
    assert "needs 3" in (undeclared(target, "services.worker*3") or "")
    assert undeclared(target, "links.db") is None
    assert "no link" in (undeclared(target, "links.broker") or "")
    assert "no connection" in (undeclared(target, "database.observations.items", has_database=False) or "")
    assert unmet(target, ["services.worker*3"]) == [
        "the target does not answer 'services.worker*3' (needs 3 service(s) with role worker, the file has 2)"
    ]


# -- answer fields and log events --------------------------------------------------------------------
def test_item_fields_are_dotted_paths_and_a_null_one_is_missing() -> None:
    target = with_change("observe.item_fields", {"holder": "lease.owner", "error_kind": None})
    obs = Observer(target, lambda: None)
    assert obs.item_field(item({"lease": {"owner": "worker-2"}}), "holder") == "worker-2"
    with pytest.raises(ObservationMissing, match=r"observe\.item_fields\.holder"):
        obs.item_field(item({"lease": {}}), "holder")
    with pytest.raises(ObservationMissing, match=r"observe\.item_fields\.error_kind"):
        obs.item_field(item({}), "error_kind")
    assert obs.item_field(item({}), "error_kind", optional=True) is None
    assert obs.used == {"observe.item_fields.holder", "observe.item_fields.error_kind"}


def test_item_error_joins_what_the_target_reports() -> None:
    obs = Observer(load_target(None)[0], lambda: None)
    raw = {"error_kind": "provider_5xx", "error_status": 503, "error_message": ""}
    assert obs.item_error(item(raw)) == "provider_5xx 503"
    none = with_change(
        "observe.item_fields", {"error_kind": None, "error_status": None, "error_message": None}
    )
    with pytest.raises(ObservationMissing, match="error_kind"):
        Observer(none, lambda: None).item_error(item(raw))


def test_log_events_are_the_targets_own_names() -> None:
    target = with_change("logs.events", {"provider_call": "provider_ok | provider_failed"})
    obs = Observer(target, lambda: None)
    assert obs.events("provider_call") == ("provider_ok", "provider_failed")
    assert obs.is_event("provider_failed", "provider_call") and not obs.is_event("claimed", "provider_call")
    with pytest.raises(ObservationMissing, match=r"logs\.events\.claimed"):
        obs.events("claimed")


def test_an_unknown_event_moment_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"logs\.events"):
        with_change("logs.events", {"claimd": "item.claimed"})


def test_store_observations_without_a_database_are_missing() -> None:
    obs = Observer(load_target(None)[0], lambda: None)
    with pytest.raises(ObservationMissing, match="no connection"):
        obs.items("b1")
    nulled = Observer(with_change("database.observations.results", None), lambda: "postgresql://x")
    with pytest.raises(ObservationMissing, match=r"database\.observations\.results"):
        nulled.results("b1")


def test_an_adapter_answers_what_yaml_cannot() -> None:
    data = reference_data()
    data["adapter"] = "tests.unit.target.adapters:WorkersFromElsewhere"
    target = parse_target(data, source="t.yaml")
    from harness.target.adapter import AdapterContext, build_adapter

    ctx = AdapterContext(target=target, db_dsn=lambda: None, api_url=lambda: None)
    obs = Observer(target, lambda: None, adapter=build_adapter(target, ctx))
    assert [w.worker for w in obs.workers()] == ["w-a"]
    assert undeclared(target, "database.observations.workers", has_database=False) is None


def test_an_adapter_that_does_not_import_is_named() -> None:
    data = reference_data()
    data["adapter"] = "tests.unit.target.adapters:NoSuchClass"
    with pytest.raises(ConfigError, match="adapter"):
        parse_target(data, source="t.yaml")


# -- a target's own detection matrix -----------------------------------------------------------------
def test_defects_caught_by_names_only_declared_defects() -> None:
    data = reference_data()
    data["defects"] = {"env": "X", "names": ["a"], "caught_by": {"b": ["TEST-RR-001"]}}
    with pytest.raises(ConfigError, match="caught_by"):
        parse_target(data, source="t.yaml")
    data["defects"]["caught_by"] = {"a": []}
    with pytest.raises(ConfigError, match="caught_by"):
        parse_target(data, source="t.yaml")
