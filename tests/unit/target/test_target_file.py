"""Target files: the reference one loads; a wrong field is a ConfigError naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import ConfigError
from harness.target.load import load_target, parse_target


def reference_data() -> dict[str, Any]:
    _, path = load_target(None)
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_the_reference_target_loads() -> None:
    target, _ = load_target(None)
    assert target.services_with_role("worker") == ["worker-1", "worker-2"]
    assert target.link_between("worker-1", "db") == "worker-1-db"
    assert target.control.retry_item is not None


@pytest.mark.parametrize(
    ("mutate", "field", "says"),
    [
        (lambda d: d["services"]["api"].update(rol="api"), "services.api.rol", "unknown field"),
        (lambda d: d["timing"].update(lease_s=-1), "timing.lease_s", "greater than 0"),
        (
            lambda d: d["trigger"]["create"].update(path="v1/batches"),
            "trigger.create.path",
            "starting with '/'",
        ),
        (
            lambda d: d["services"]["worker-1"].update(faults=["explode"]),
            "services.worker-1.faults[0]",
            "kill",
        ),
        (lambda d: d.pop("trigger"), "trigger", "required field is missing"),
        (lambda d: d["links"].update(bad={"from": "worker-9", "to": "db"}), "", "unknown service 'worker-9'"),
        (lambda d: d.update(database={"kind": "external"}), "database", "needs database.dsn"),
    ],
)
def test_a_wrong_field_is_named(mutate: Any, field: str, says: str) -> None:
    data = reference_data()
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_target(data, source="t.yaml")
    assert says in str(err.value)
    if field:
        assert err.value.field == field
        assert field in str(err.value)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_target(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("services: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_target(bad)


def test_a_binary_target_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    from harness.errors import ConfigError
    from harness.target.load import load_target

    binary = tmp_path / "target.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not a UTF-8"):
        load_target(binary)


def test_an_oversized_target_file_is_a_config_error(tmp_path: Path) -> None:
    from harness.errors import ConfigError
    from harness.target.load import MAX_TARGET_BYTES, load_target

    big = tmp_path / "target.yaml"
    big.write_text("#" * (MAX_TARGET_BYTES + 1))
    with pytest.raises(ConfigError, match="too big"):
        load_target(big)
