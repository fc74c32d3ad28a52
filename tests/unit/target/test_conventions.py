"""``conventions: canonical`` and declared absence: omitted, null and canonical read differently."""

from __future__ import annotations

from typing import Any

from harness.target.absence import declared_absent, hint
from harness.target.load import load_target, parse_target
from harness.target.needs import undeclared


def _minimal(**extra: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "services": {"api": {"role": "api", "url": "http://127.0.0.1:1"}},
        "trigger": {"create": {"method": "POST", "path": "/jobs"}},
        "observe": {"batch": {"path": "/jobs/{batch_id}"}, **extra.pop("observe", {})},
        **extra,
    }


def test_omitted_fields_are_not_answered_without_the_opt_in() -> None:
    target = parse_target(_minimal(), source="t.yaml")
    assert target.observe.item_fields.error_kind is None
    assert target.database.observations == {} and target.database.invariants == {}
    assert target.logs.correlation_field is None
    assert undeclared(target, "observe.item_fields.error_kind") == "not given in its target file"
    assert undeclared(target, "database.observations.items") == "not given in its target file"
    assert not declared_absent(target, "observe.item_fields.error_kind")


def test_null_is_a_declaration_of_absence() -> None:
    data = _minimal(observe={"batch_fields": {"summary": None}}, logs={"correlation_field": None})
    target = parse_target(data, source="t.yaml")
    assert declared_absent(target, "observe.batch_fields.summary")
    assert declared_absent(target, "logs.correlation_field")
    assert undeclared(target, "observe.batch_fields.summary") == "null in its target file"


def test_lacks_states_declares_a_state_absent() -> None:
    target = parse_target(_minimal(observe={"lacks_states": ["partial"]}), source="t.yaml")
    assert declared_absent(target, "observe.states.partial")
    assert not declared_absent(target, "observe.states.timeout")
    assert "lacks_states" in hint("observe.states.timeout")


def test_canonical_fills_what_is_omitted_and_keeps_explicit_values_and_nulls() -> None:
    data = _minimal(conventions="canonical", observe={"item_fields": {"holder": "owner", "output": None}})
    target = parse_target(data, source="t.yaml")
    assert target.observe.item_fields.holder == "owner"
    assert target.observe.item_fields.output is None and declared_absent(target, "observe.item_fields.output")
    assert target.observe.item_fields.error_kind == "error_kind"
    assert "items" in target.database.observations and "duplicate_outputs" in target.database.invariants
    assert target.logs.correlation_field == "correlation_id"


def test_the_reference_target_opts_in() -> None:
    target, _ = load_target(None)
    assert target.conventions == "canonical" and target.observe.batch_fields.summary == "summary"
