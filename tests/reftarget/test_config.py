"""Configuration and the defect switch: unknown names are hard errors, every defect is wired."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from reftarget import defects
from reftarget.config import ConfigError, Settings

from tests.reftarget.helpers import FIXTURES, service_env


def test_settings_defaults_and_env() -> None:
    s = Settings.from_env(
        {
            "REFTARGET_LEASE_S": "2.5",
            "REFTARGET_MAX_ATTEMPTS": "5",
            "REFTARGET_DEFECTS": "no_fencing, no_priority",
            "REFTARGET_WORKER_ID": "w9",
        }
    )
    assert (s.lease_s, s.max_attempts, s.worker_id) == (2.5, 5, "w9")
    assert s.defects == {"no_fencing", "no_priority"}
    assert Settings.from_env({}).heartbeat_s == 0.3


@pytest.mark.parametrize(
    ("name", "value"),
    [("REFTARGET_LEASE_S", "soon"), ("REFTARGET_MAX_ATTEMPTS", "2.5"), ("REFTARGET_PORT", "-1")],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_unknown_defect_is_rejected_with_the_known_list() -> None:
    with pytest.raises(defects.UnknownDefect, match=r"no_fenceing.*known: "):
        defects.parse("no_fencing,no_fenceing")
    with pytest.raises(defects.UnknownDefect):
        defects.enabled("misspelt_in_code")


def test_processes_exit_2_on_an_unknown_defect() -> None:
    env = service_env(Settings(), REFTARGET_DEFECTS="no_such_defect")
    modules = ["reftarget.worker", "reftarget.api", "reftarget.migrate"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", m], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for m in modules
    ]
    for module, proc in zip(modules, procs, strict=True):
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, module
        assert "unknown defect(s) no_such_defect" in err, module


def test_every_catalog_defect_exists_and_is_switched_in_code() -> None:
    from harness import catalog as project_catalog

    named = {d for e in project_catalog.ENTRIES for d in e.defects}  # each scenario's proving defects
    assert named == set(defects.DEFECTS), named ^ set(defects.DEFECTS)
    source = "\n".join(p.read_text() for p in (FIXTURES / "reftarget").rglob("*.py"))
    for name in defects.DEFECTS:
        assert f'enabled("{name}")' in source, f"defect {name} is never switched"


def test_defect_names_are_documented_in_the_readme() -> None:
    readme = (FIXTURES / "reftarget" / "README.md").read_text()
    for name in defects.DEFECTS:
        assert f"`{name}`" in readme, name
    for var in re.findall(r'"(REFTARGET_[A-Z_]+)"', (FIXTURES / "reftarget" / "config.py").read_text()):
        assert var in readme, var
