"""The code stays ruff-clean and ``mypy --strict``-clean on harness/ (the house style).

Run as tests so the README's one test command is the whole gate, locally and in CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> list[str]:
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return [str(exe)]
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed; hint: pip install -e '.[test]'")
    return [found]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_check() -> None:
    result = _run([*_tool("ruff"), "check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = _run([*_tool("ruff"), "format", "--check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_harness() -> None:
    result = _run([*_tool("mypy"), "--strict", "harness"])
    assert result.returncode == 0, result.stdout + result.stderr
