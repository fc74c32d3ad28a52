"""What ``target check`` and a safety abort say about handles, from the file alone (no stack)."""

from __future__ import annotations

import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from harness.cli import main as cli_main
from harness.stack import safety
from harness.stack.external import ExternalStack
from harness.stack.journal import Journal
from harness.stack.safety import RunAborted
from harness.target.load import load_target

REFERENCE = Path(__file__).resolve().parents[3] / "harness" / "target" / "reference.yaml"


def _staging_file(tmp_path: Path, *, handles: bool) -> Path:
    doc = yaml.safe_load(REFERENCE.read_text())
    doc["name"] = "staging-unit"
    for name, svc in doc["services"].items():
        svc.pop("command", None)
        svc.pop("env", None)
        if handles and svc["role"] in ("worker", "api", "db"):
            svc["handle"] = {"commands": {"kill": f"echo kill {name}", "alive": ["true"], "start": "true"}}
    doc["services"]["api"]["url"] = "http://127.0.0.1:9"
    doc["database"] = {**doc["database"], "kind": "external", "dsn": "postgresql://x@127.0.0.1:9/x"}
    for link in doc["links"].values():
        link.update(listen="127.0.0.1:1", upstream="127.0.0.1:2")
    doc["safety"] = {"environment": "staging-unit", "allow_faults": True}
    path = tmp_path / "staging.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_static_check_names_the_missing_handles_of_each_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(
        ["target", "check", str(_staging_file(tmp_path, handles=False)), "--backend", "external", "--static"]
    )
    out = capsys.readouterr().out
    assert code == 0
    line = next(x for x in out.splitlines() if x.strip().startswith("TEST-RR-004"))
    assert "unknown" in line and "services.worker-1.handle" in line
    q01 = next(x for x in out.splitlines() if x.strip().startswith("TEST-RR-Q01"))
    assert "services.db.handle" in q01
    # the same file on the local backend needs no handle: the harness starts the services itself
    cli_main(["target", "check", str(_staging_file(tmp_path, handles=False)), "--static"])
    local = capsys.readouterr().out
    assert "handle" not in next(x for x in local.splitlines() if x.strip().startswith("TEST-RR-004"))


def test_with_handles_the_kill_scenarios_can_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli_main(
        ["target", "check", str(_staging_file(tmp_path, handles=True)), "--backend", "external", "--static"]
    )
    out = capsys.readouterr().out
    assert "can run" in next(x for x in out.splitlines() if x.strip().startswith("TEST-RR-004"))


def test_a_safety_abort_heals_then_interrupts_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, _ = load_target(str(_staging_file(tmp_path, handles=True)))
    calls: list[Any] = []
    proxy = SimpleNamespace(proxies=lambda: {}, url="http://proxy")
    provider = SimpleNamespace(reset=lambda: calls.append("provider reset"), base_url="http://provider")
    infra = SimpleNamespace(
        provider=provider, proxy=proxy, journal=Journal(tmp_path / "j.json"), work_dir=tmp_path
    )
    stack = ExternalStack(infra, target)  # type: ignore[arg-type]
    handle = stack.handle("worker-1")
    assert handle is not None
    handle.down = True  # killed by the scenario, not restarted yet
    monkeypatch.setattr("os.kill", lambda pid, sig: calls.append(sig))
    monkeypatch.setattr(safety, "ABORTED", [])
    stack._abort("the API was unhealthy for 31s")
    assert calls == ["provider reset", signal.SIGINT]
    assert not handle.down  # started again before the run stops
    assert safety.ABORTED == ["the API was unhealthy for 31s"]
    with pytest.raises(RunAborted):
        stack.process("worker-1")
