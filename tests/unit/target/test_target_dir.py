"""``{target_dir}``: a target file can point its services at code that lives beside it.

The loader knows the file's directory (it is not a YAML field); service commands, env and store
arguments may use it, a target built from data alone may not (a ConfigError naming the field),
the local backend renders it and puts a service's own ``PYTHONPATH`` before the harness's, and
the docker backend refuses it by name (its containers do not see this machine's files).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from harness.errors import ConfigError
from harness.stack.docker import DockerStack, _refuse_host_paths
from harness.stack.local import LocalStack, service_env
from harness.stack.render import render
from harness.target.load import load_target, parse_target
from harness.target.placeholders import service_values


def _data() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "beside-the-file",
        "services": {
            "db": {"role": "db"},
            "api": {
                "role": "api",
                "command": ["{python}", "{target_dir}/serve.py", "--port", "{port}"],
                "env": {"PYTHONPATH": "{target_dir}", "DATABASE_URL": "{db_url}"},
            },
        },
        "trigger": {"create": {"method": "POST", "path": "/jobs", "body": {"size": "{n}"}}},
        "observe": {"batch": {"path": "/jobs/{batch_id}"}},
    }


def _write(folder: Path, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "target.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _local_stack(target: Any, tmp_path: Path) -> LocalStack:
    infra = SimpleNamespace(provider=None, proxy=None, work_dir=tmp_path / "work",
                            pg=SimpleNamespace(port=5432), provider_port=9000)  # fmt: skip
    stack = LocalStack(infra, target)  # type: ignore[arg-type]
    stack._timing = target.timing.model_dump()
    return stack


def test_a_loaded_file_knows_its_directory_and_may_use_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "my target", _data())
    monkeypatch.chdir(tmp_path)
    target, loaded = load_target("my target/target.yaml")  # relative: resolved to an absolute directory
    assert loaded == Path("my target/target.yaml")
    assert target.directory == path.parent.resolve() and target.directory.is_absolute()
    assert "target_dir" in service_values(target)
    assert "directory" not in target.model_dump() and "_directory" not in target.model_dump()
    assert target.services["api"].env["PYTHONPATH"] == "{target_dir}"  # rendered per launch, not at load


def test_the_reference_target_has_its_directory_too() -> None:
    target, path = load_target(None)
    assert target.directory == path.parent.resolve()


def test_a_target_built_from_data_has_no_directory_and_says_so() -> None:
    with pytest.raises(ConfigError) as err:
        parse_target(_data(), source="t.yaml")
    assert err.value.field == "services.api.command[1]"
    assert "unknown placeholder {target_dir}" in str(err.value)
    assert "this target was not loaded from one" in str(err.value)
    assert "services.api.env.PYTHONPATH" in str(err.value)  # every use is listed
    target = parse_target(_data(), source="t.yaml", directory=Path("/srv/audit"))
    assert target.directory == Path("/srv/audit")


def test_target_dir_is_not_a_yaml_field(tmp_path: Path) -> None:
    data = {**_data(), "_directory": "/elsewhere"}
    with pytest.raises(ConfigError):
        load_target(_write(tmp_path, data))


def test_target_dir_is_only_for_services() -> None:
    data = _data()
    data["trigger"]["create"]["path"] = "{target_dir}/jobs"
    with pytest.raises(ConfigError) as err:
        parse_target(data, source="t.yaml", directory=Path("/srv/audit"))
    assert err.value.field == "trigger.create.path"


def test_the_local_backend_renders_it_into_command_and_env(tmp_path: Path) -> None:
    target, _ = load_target(_write(tmp_path / "t", _data()))
    values = _local_stack(target, tmp_path)._values_for("api", 8080)
    assert set(values) == service_values(target)
    spec = target.services["api"]
    argv = [render(a, values, where="command") for a in spec.command or []]
    assert argv[1] == f"{tmp_path / 't'}/serve.py"
    env = service_env({k: render(v, values, where=k) for k, v in spec.env.items()})
    paths = env["PYTHONPATH"].split(os.pathsep)
    assert paths[0] == str(tmp_path / "t")  # the file's directory first ...
    assert all(p in paths for p in sys.path if p)  # ... and the harness's path kept after it


def test_a_service_imports_code_that_lives_beside_the_target_file(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    (folder / "mysvc").mkdir(parents=True)
    (folder / "mysvc" / "__init__.py").write_text("WHERE = 'beside the target file'\n")
    target, _ = load_target(_write(folder, _data()))
    values = _local_stack(target, tmp_path)._values_for("api", 8080)
    env = service_env({k: render(v, values, where=k) for k, v in target.services["api"].env.items()})
    out = subprocess.run([sys.executable, "-c", "import mysvc; print(mysvc.WHERE)"], cwd=tmp_path,
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "beside the target file"


def test_service_env_without_pythonpath_is_the_harness_path() -> None:
    env = service_env({"A": "1"})
    assert env["A"] == "1"
    assert env["PYTHONPATH"].split(os.pathsep) == list(dict.fromkeys(p for p in sys.path if p))


def test_the_docker_backend_refuses_it_by_name(tmp_path: Path) -> None:
    target, _ = load_target(_write(tmp_path / "t", _data()))
    infra = SimpleNamespace(provider=None, proxy=None, work_dir=tmp_path / "work", pg_port=5432,
                            provider_port=9000)  # fmt: skip
    stack = DockerStack(infra, target)  # type: ignore[arg-type]
    assert "target_dir" not in stack._values_for("api", 8080)
    spec = target.services["api"]
    with pytest.raises(ConfigError) as err:
        _refuse_host_paths("api", [*(spec.command or []), *spec.env.values()])
    assert err.value.field == "services.api" and "containers do not see" in str(err.value)
    _refuse_host_paths("api", ["{python}", "-m", "svc"])  # no {target_dir}: nothing to refuse
