"""The real ``chaos-audit provider`` process: it serves, and it stops at once on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from provider_testkit import Background

from harness.faults.provider.client import ProviderClient
from harness.faults.provider.model import Outcome
from harness.faults.provider.server import GRACEFUL_SECONDS

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "provider", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def cli_provider() -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = _free_port()
    process = _start("--host", "127.0.0.1", "--port", str(port))
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == f"chaos-audit provider: listening on http://127.0.0.1:{port}", line
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_serves_and_stops_promptly_with_calls_held(
    cli_provider: tuple[subprocess.Popen[str], str], sig: signal.Signals
) -> None:
    process, url = cli_provider
    with ProviderClient(url) as provider:
        provider.wait_until_ready(timeout=10)
        provider.add_rule("item-1", hang=True)
        gate = provider.barrier("item-2")
        background = Background(url)
        hanging, held = background.generate("item-1"), background.generate("item-2")
        gate.wait(timeout=5)
        while not any(e.outcome == Outcome.HANG for e in provider.ledger()):
            time.sleep(0.01)

        started = time.monotonic()
        process.send_signal(sig)
        code = process.wait(timeout=5)

    assert code == 0
    # the held calls were answered at once: uvicorn never had to wait out its graceful timeout
    assert time.monotonic() - started < GRACEFUL_SECONDS
    for call in (hanging, held):
        answer = call.result(timeout=5)
        assert (answer.status_code, answer.json()) == (503, {"error": "shutdown"})
    background.pool.shutdown(wait=True)
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()


def test_cli_refuses_a_port_in_use_with_exit_code_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _start("--port", str(port))
        _, stderr = process.communicate(timeout=10)

    assert process.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in stderr
    assert "hint:" in stderr
