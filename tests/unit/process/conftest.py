"""Fixtures for process-control tests: real child processes (small ``python -c`` scripts), no mocks."""

from __future__ import annotations

import socket
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.process.pidfiles import PidFiles
from harness.process.readiness import HttpReady
from harness.process.service import ProcessService

MakeService = Callable[..., ProcessService]


@pytest.fixture
def pidfiles(tmp_path: Path) -> PidFiles:
    """A pid-file registry of this test only, so a test can see exactly what it recorded."""
    return PidFiles(tmp_path / "pids")


@pytest.fixture
def make_service(tmp_path: Path, pidfiles: PidFiles) -> Iterator[MakeService]:
    """Build a service running ``python -c CODE``; every service made is killed after the test."""
    made: list[ProcessService] = []

    def make(name: str, code: str, **kwargs: Any) -> ProcessService:
        argv = [sys.executable, "-c", textwrap.dedent(code)]
        svc = ProcessService(name, argv, log_path=tmp_path / f"{name}.log", pidfiles=pidfiles, **kwargs)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.kill()


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def http_service(tmp_path: Path, pidfiles: PidFiles, free_port: int) -> Iterator[ProcessService]:
    """``python -m http.server`` on a free port, with an HTTP readiness probe (not started yet)."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "health").write_text("ok\n")
    svc = ProcessService(
        "web",
        [sys.executable, "-m", "http.server", str(free_port), "--bind", "127.0.0.1"],
        cwd=tmp_path / "www",
        log_path=tmp_path / "web.log",
        readiness=HttpReady(f"http://127.0.0.1:{free_port}/health"),
        pidfiles=pidfiles,
    )
    yield svc
    svc.kill()
