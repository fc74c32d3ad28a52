"""ContainerService against a real engine: the Signalable primitives faults use, and labels."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.images import ImageSet
from harness.process.readiness import HttpReady
from harness.stack.containers import (
    RUN_LABEL,
    ContainerService,
    ContainerSpec,
    labelled,
    owner_labels,
    reap_leftovers,
    remove_run,
)
from harness.store.postgres import free_port

# One Docker engine for the whole suite: its tests run one after the other in one xdist worker.
pytestmark = pytest.mark.xdist_group("docker")


@pytest.fixture
def provider(docker_engine: Any, tmp_path: Path) -> Any:
    """The mock provider in a container of the harness image (small, has an HTTP health check)."""
    run_id = f"test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    spec = ContainerSpec(
        image=ImageSet.configured().harness,
        command=["chaos-audit", "provider", "--host", "127.0.0.1", "--port", str(port)],
        labels=owner_labels(run_id),
        name=f"chaos-audit-{run_id}-provider",
    )
    svc = ContainerService(
        "provider", spec, readiness=HttpReady(f"http://127.0.0.1:{port}/_control/health"), log_dir=tmp_path
    )
    svc.start()
    svc.wait_ready(timeout=30)
    yield svc
    assert remove_run(docker_engine, run_id) == []


def test_kill_start_pause_resume_stop(provider: ContainerService) -> None:
    assert provider.running
    provider.pause()
    assert provider.running  # paused counts as running, as for processes
    with pytest.raises(OSError):  # frozen: accepted by the kernel, never answered
        _probe(provider, timeout=0.5)
    provider.resume()
    _probe(provider, timeout=5)
    provider.kill()
    assert not provider.running
    provider.start()  # docker start: the same container, crash-restarted
    provider.wait_ready(timeout=30)
    provider.restart()
    provider.wait_ready(timeout=30)
    provider.stop(timeout=2)
    assert not provider.running
    assert "listening" in provider.save_log().read_text()  # the output is kept for the report


def _probe(svc: ContainerService, *, timeout: float) -> None:
    import urllib.request

    assert isinstance(svc.readiness, HttpReady)
    urllib.request.urlopen(svc.readiness.url, timeout=timeout).close()


def test_every_container_is_labelled_with_run_and_owner(
    provider: ContainerService, docker_engine: Any
) -> None:
    labels = docker_engine.containers.get(provider.container_name).labels
    assert labels[RUN_LABEL].startswith("test-")
    assert labels["chaos-audit.owner-pid"].isdigit() and labels["chaos-audit.owner-start"].isdigit()


def test_reap_removes_containers_of_dead_owners_only(docker_engine: Any, tmp_path: Path) -> None:
    image = ImageSet.configured().harness
    dead = {RUN_LABEL: "test-dead", "chaos-audit.owner-pid": "999999999", "chaos-audit.owner-start": "1"}
    live = owner_labels("test-live")
    for labels in (dead, live):
        docker_engine.containers.create(image, command=["sleep", "60"], labels=labels, network_mode="host")
    try:
        lines = reap_leftovers(docker_engine)
        left = {labels[RUN_LABEL] for _, labels, _ in labelled(docker_engine, RUN_LABEL)}
        assert any("test-dead" in line for line in lines)
        assert "test-dead" not in left and "test-live" in left
    finally:
        remove_run(docker_engine, "test-live")
        remove_run(docker_engine, "test-dead")
