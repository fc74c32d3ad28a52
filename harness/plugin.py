"""pytest plugin of chaos-audit (registered through the ``pytest11`` entry point).

Holds only hooks, options, markers and fixtures; machinery is imported lazily inside fixtures so
that every pytest run in an environment with chaos-audit installed stays cheap.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos-audit")
    group.addoption("--chaos-target", default=None, help="target file (YAML); default: embedded reference target")
    group.addoption("--chaos-backend", default="local", choices=("local", "docker", "external"))
    group.addoption("--chaos-seed", default=None, type=int, help="seed of all randomness (printed in the report)")
    group.addoption("--chaos-report-dir", default=None, help="where reports are written")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "audit(id, task, severity): an audit scenario of CATALOG.md (id, audit task, severity)"
    )
