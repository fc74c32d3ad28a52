"""Service wiring: placeholders a backend hands to the target's services (no process started)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.stack.docker import DockerStack
from harness.stack.local import LocalStack
from harness.target.load import load_target


@pytest.mark.parametrize("backend", [LocalStack, DockerStack])
def test_the_seed_defects_and_proxied_links_reach_the_services(backend: type, tmp_path: Path) -> None:
    target, _ = load_target(None)
    infra = SimpleNamespace(
        provider=None,
        proxy=None,
        work_dir=tmp_path,
        pg=SimpleNamespace(port=5432),
        pg_port=5432,
        provider_port=9000,
    )
    stack = backend(infra, target, defects=["no_fencing"], seed=1234)
    stack._proxies = {"worker-1-db": "127.0.0.1:7001", "worker-1-provider": "127.0.0.1:7002"}
    values = stack._values_for("worker-1", 8080)
    assert values["seed"] == 1234
    assert values["defects"] == "no_fencing"
    assert values["db_url"] == f"postgresql://postgres@127.0.0.1:7001/{stack.dbname}"
    assert values["provider_url"] == "http://127.0.0.1:7002"
    # Each service gets its own link: a fault on worker-1-db never reaches the API.
    stack._proxies["api-db"] = "127.0.0.1:7003"
    assert stack._values_for("api", 8081)["db_url"] == f"postgresql://postgres@127.0.0.1:7003/{stack.dbname}"
