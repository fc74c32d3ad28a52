"""The ``session_env`` fixture of the session console's end-to-end tests (helpers: session_console.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from session_console import SessionEnv, cleanup_session_env, new_session_env


@pytest.fixture
def session_env(tmp_path: Path) -> Iterator[SessionEnv]:
    env = new_session_env(tmp_path)
    try:
        yield env
    finally:
        cleanup_session_env(env)
