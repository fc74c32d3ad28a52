"""docs/target-file.md stays true to the code: its examples load, and it names every field.

Error messages send users to that page (``unknown field ... see docs/target-file.md``), so a field
added to the models without a word there, or an example that no longer loads, fails here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from harness.checkers.sql import default_queries
from harness.target import model, workflow_model
from harness.target.load import load_target
from harness.target.observe import default_observations
from harness.target.placeholders import (
    BROKER_VALUES,
    CALL_VALUES,
    FILE_VALUES,
    SERVICE_VALUES,
    TEMPLATE_VALUES,
)

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "target-file.md"


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_minimal_example_loads(tmp_path: Path) -> None:
    (block,) = _yaml_blocks(_section(DOC.read_text(), "A minimal complete file"))
    path = tmp_path / "my-jobs.yaml"
    path.write_text(block)
    target, _ = load_target(path)  # loaded from a file: {target_dir} is known
    assert target.name == "my-jobs" and target.directory == tmp_path.resolve()
    assert target.observe.lacks_states == [model.CanonicalState.PARTIAL]
    assert target.timing.batch_deadline_s is None and target.conventions is None


def test_the_worked_example_is_the_repository_file() -> None:
    blocks = _yaml_blocks(_section(DOC.read_text(), "The worked example: `fixtures/rqtarget/target.yaml`"))
    assert blocks[-1] == (REPO / "fixtures" / "rqtarget" / "target.yaml").read_text()


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    # handle_model is loaded by model (importing it first is a circular import): take it from there
    handle_model = importlib.import_module("harness.target.handle_model")
    for module in (model, workflow_model, handle_model):
        for obj in vars(module).values():
            is_model = isinstance(obj, type) and issubclass(obj, model.Model) and obj is not model.Model
            if is_model and obj not in found:
                found.append(obj)
    return found


def _names() -> set[str]:
    names: set[str] = set()
    for cls in _models():
        for name, field in cls.model_fields.items():
            names.add(field.alias or name)
    names |= set(model.STORE_OBSERVATIONS) | set(default_observations()) | set(default_queries())
    names |= set(model.LOG_EVENTS) | {s.value for s in model.CanonicalState}
    names |= {s.value for s in workflow_model.WorkflowCanonicalState}
    names |= {"{" + v + "}" for v in (*SERVICE_VALUES, *BROKER_VALUES, *FILE_VALUES)}
    names |= {"{" + v + "}" for values in (*CALL_VALUES.values(), *TEMPLATE_VALUES.values()) for v in values}
    names |= {c for c in CALL_VALUES if not c.startswith("workflow.")}  # workflow's calls: its fields
    names |= set(model.GENEROUS)
    return names


@pytest.mark.parametrize("name", sorted(_names()))
def test_every_field_and_name_is_documented(name: str) -> None:
    text = DOC.read_text()
    assert re.search(rf"`[^`\n]*(?<![\w.]){re.escape(name)}(?![\w])[^`\n]*`", text), f"{name} is not in {DOC}"
