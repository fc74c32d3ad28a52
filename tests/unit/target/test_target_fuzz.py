"""Property: whatever a target file holds, loading it gives a valid model or a ConfigError (exit 2).

Never a traceback and never a hang: generated files are the reference target with random damage
(keys dropped, values replaced by junk or by placeholders, unknown keys added) and raw YAML-ish
text (anchors, aliases, tags, dates, deep brackets, bytes that are not UTF-8).
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.target.load import load_target
from harness.target.model import Target

_, _REFERENCE_PATH = load_target(None)
REFERENCE: dict[str, Any] = yaml.safe_load(_REFERENCE_PATH.read_text())


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p in _paths(REFERENCE) if p]
placeholders = st.builds(
    lambda inner, before: f"{before}{{{inner}}}",
    st.sampled_from(["python", "port", "n", "batch_id", "timing.lease_s", "timing.nope", "broker_url",
                     "workflow_id", "step", "nope", "item_id", "wait", ""]) | st.text(max_size=6),
    st.text(max_size=4),
)  # fmt: skip
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | placeholders
    | st.sampled_from(["api", "worker", "db", "kill", "GET", "/v1/x", "embedded", "external", "json"])
)  # fmt: skip
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6) | scalars, inner, max_size=3)
    ),
    max_leaves=8,
)


def _damage(data: dict[str, Any], path: tuple[Any, ...], how: str, value: Any) -> None:
    *parents, last = path
    node: Any = data
    for p in parents:
        node = node[p]
    if how == "drop":
        del node[last]
    elif how == "replace":
        node[last] = value
    elif isinstance(node[last], dict):
        node[last]["surprise"] = value
    else:
        node[last] = {"surprise": value}


damaged = st.lists(
    st.tuples(st.sampled_from(PATHS), st.sampled_from(["drop", "replace", "extra"]), junk),
    min_size=1,
    max_size=4,
)


def _copy() -> dict[str, Any]:
    return copy.deepcopy(REFERENCE)


def _load(raw: bytes) -> None:
    """The property itself: a Target or a ConfigError naming where, nothing else."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "target.yaml"
        path.write_bytes(raw)
        try:
            target, _ = load_target(path)
        except ConfigError as exc:
            assert str(exc) and exc.field
        else:
            assert isinstance(target, Target)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged)
def test_a_damaged_reference_target_loads_or_is_a_config_error(damage: list[tuple[Any, str, Any]]) -> None:
    data = _copy()
    for path, how, value in damage:
        try:
            _damage(data, path, how, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier step removed or replaced what this path pointed into
    _load(yaml.safe_dump(data, allow_unicode=True).encode())


FRAGMENTS = [
    "name: x\n", "services:\n", "  api:\n", "    role: api\n", "&a ", "*a", "!!python/object:os.system ",
    "[", "]", "{", "}", ": ", "- ", "2024-02-30", "9" * 5000, "? ", "!!binary ", "<<: *a\n", "\t", "\n",
    "'", '"', "{timing.x}", "---\n", "...\n", "%YAML 1.1\n", "~", ".nan", "0x", "-", "trigger: ",
]  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=30), st.binary(max_size=8))
def test_raw_yaml_ish_text_loads_or_is_a_config_error(parts: list[str], tail: bytes) -> None:
    _load("".join(parts).encode() + tail)


BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)  # 9**9 values once expanded: a hang for anything that walks them


@pytest.mark.parametrize(
    ("text", "says"),
    [(BOMB, "expands to more than"), ("a: &a {b: *a}", "refers to a value that contains it"),
     ("[" * 5000 + "]" * 5000, "cannot be read"), ("a: 2024-02-30", "cannot be read"),
     ("a: " + "9" * 5000, "cannot be read"), ("a: " + "[" * 80 + "]" * 80, "nested deeper")],
)  # fmt: skip
def test_known_hazards_are_config_errors(text: str, says: str, tmp_path: Path) -> None:
    path = tmp_path / "target.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=says) as err:
        load_target(path)
    assert err.value.field == "(yaml)"
