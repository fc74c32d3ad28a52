"""Every third-party package the shipped code imports is declared in pyproject.toml.

A package that only arrives as another one's dependency (pydantic through fastapi, pluggy through
pytest) works until that dependency drops it; `pip install .` must not rely on that.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: the folders `pip install .` ships (setup.py: harness, fixtures/reftarget, fixtures/rqtarget, scenarios)
SHIPPED = ("harness", "fixtures", "scenarios")
#: import names of the project's own packages
OWN = {"harness", "reftarget", "rqtarget", "chaos_audit_scenarios"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {_normalized(re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0]) for spec in project["dependencies"]}


def _imports() -> dict[str, str]:
    """Top-level import name -> the first file importing it (absolute imports only)."""
    found: dict[str, str] = {}
    for folder in SHIPPED:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


def test_every_third_party_import_is_a_declared_dependency() -> None:
    declared = _declared()
    owners = packages_distributions()
    missing = []
    for name, where in sorted(_imports().items()):
        if name in sys.stdlib_module_names or name in OWN or name == "__future__":
            continue
        dists = {_normalized(d) for d in owners.get(name, [])}
        if not dists & declared:
            missing.append(f"{name} ({where}; distribution: {', '.join(sorted(dists)) or 'not installed'})")
    assert not missing, "imported but not in pyproject.toml dependencies: " + "; ".join(missing)
