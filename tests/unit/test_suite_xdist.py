"""The suite's xdist groups hold: the tests of one ``xdist_group`` run in one worker.

A real ``pytest -n 2`` in a subprocess with this suite's hooks (``tests/suite_xdist.py``): on
pytest 9.2 pytest-xdist alone silently ignores the groups, and the detection matrix would then run
side by side with itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

TESTS = """
import os
import pytest

@pytest.mark.xdist_group("heavy")
@pytest.mark.parametrize("i", range(4))
def test_grouped(i):
    print("worker", os.environ["PYTEST_XDIST_WORKER"])

@pytest.mark.parametrize("i", range(8))
def test_free(i):
    pass
"""


def test_a_group_runs_in_one_worker(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest(
        "from tests.suite_xdist import pytest_cmdline_main, pytest_collection_modifyitems, pytest_configure_node\n"
    )
    pytester.makepyfile(test_groups=TESTS)
    result = pytester.runpytest_subprocess("-n", "2", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=12)
    placed = re.findall(
        r"\[(gw\d)\] \[ *\d+%\] PASSED test_groups\.py::test_grouped\[\d\](@\w+)", result.stdout.str()
    )
    assert len(placed) == 4, result.stdout.str()
    assert {group for _, group in placed} == {"@heavy"}
    assert len({worker for worker, _ in placed}) == 1, placed
