"""The report's *Reproduce* line runs the same audit again from the directory the user ran it in."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import pytest
import yaml

from harness.run.command import configure
from harness.run.plan import SCENARIOS_ENV, build_plan


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


def _target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({
        "schema_version": 1, "name": "mine", "services": {"api": {"role": "api"}},
        "trigger": {"create": {"path": "/b"}}, "observe": {"batch": {"path": "/b/{batch_id}"}},
    }))  # fmt: skip
    return path


def test_a_relative_target_is_written_as_typed_and_resolves_from_the_run_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SCENARIOS_ENV, raising=False)
    file = _target(tmp_path / "audits" / "my target.yaml")
    monkeypatch.chdir(tmp_path)
    plan = build_plan(_args("--target", "audits/my target.yaml", "--seed", "7", "--report-dir", "out"))
    argv = shlex.split(plan.command())
    assert argv[:2] == ["chaos-audit", "run"]
    typed = argv[argv.index("--target") + 1]
    assert typed == "audits/my target.yaml"  # as typed, quoted for the shell
    assert (tmp_path / typed).resolve() == file.resolve()  # what it names from the run's directory
    assert plan.target_file == str(file.resolve())  # the child (cwd: the report dir) gets it absolute
    assert argv[argv.index("--report-dir") + 1] == "out" and argv[argv.index("--seed") + 1] == "7"


def test_scenarios_from_the_environment_are_part_of_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "my scenarios"
    folder.mkdir()
    monkeypatch.setenv(SCENARIOS_ENV, str(folder))
    line = build_plan(_args("--seed", "3", "--report-dir", str(tmp_path / "out"))).command()
    words = shlex.split(line)
    assert words[0] == f"{SCENARIOS_ENV}={folder}"  # shell-quoted, so the space survives
    assert words[1:3] == ["chaos-audit", "run"]


def test_the_installed_scenarios_need_no_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCENARIOS_ENV, raising=False)
    line = build_plan(_args("--seed", "3", "--report-dir", str(tmp_path / "out"))).command()
    assert line.startswith("chaos-audit run --seed 3")
