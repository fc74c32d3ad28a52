"""The proxy as users run it: a separate process, flags, config file, signals, a fresh install."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from proxy_net import connect, recv_all, recv_exact

ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def running(command: list[str], **popen: object) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start a proxy server process with ``--port 0`` and yield it with its API URL."""
    proc = subprocess.Popen(
        [*command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://" in line, line + (proc.stderr.read() if proc.stderr else "")
        yield proc, line.strip().rsplit(" ", 1)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def module_command(python: str = sys.executable) -> list[str]:
    return [python, "-m", "harness.faults.proxy"]


def test_version_flag():
    for flag in ("--version", "-version"):
        out = subprocess.run([*module_command(), flag], capture_output=True, text=True, check=True, cwd=ROOT)
        assert out.stdout.strip() == "chaos-audit proxy version 0.1.0"


def test_config_file_and_prompt_exit_on_sigterm(tmp_path, echo):
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps([{"name": "cfg", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo.port}"}])
    )
    with running([*module_command(), "--config", str(config), "--seed", "5"], cwd=ROOT) as (proc, url):
        proxy = requests.get(f"{url}/proxies/cfg", timeout=5).json()
        port = int(proxy["listen"].rsplit(":", 1)[1])
        with connect(port) as sock:
            sock.sendall(b"live")
            assert recv_exact(sock, 4) == b"live"
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            assert recv_all(sock) == b""  # graceful: live connections were closed
        assert time.monotonic() - start < 10
    with pytest.raises(ConnectionRefusedError):
        connect(port)


def test_sigint_also_exits_cleanly():
    with running(module_command(), cwd=ROOT) as (proc, url):
        assert requests.get(f"{url}/version", timeout=5).status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a cold pip cache downloads every dependency
def test_fresh_venv_install_driven_by_toxiproxy_python(tmp_path, echo):
    """``pip install`` the repo into a new venv, run the server from it, drive it with toxiproxy-python."""
    toxiproxy = pytest.importorskip("toxiproxy")
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "*.egg-info", "__pycache__", "build"))
    if not (source / "README.md").exists():  # pyproject names a readme the repo may not have yet
        (source / "README.md").write_text("chaos-audit\n")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", str(source)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    script = env_dir / "bin" / "chaos-audit"
    assert script.exists()
    wired = subprocess.run(
        [python, "-c", "import harness.cli; harness.cli.build_parser()"], capture_output=True
    )
    command = [str(script), "proxy"] if wired.returncode == 0 else module_command(python)
    with running(command, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""}) as (proc, url):
        host, port = url.removeprefix("http://").rsplit(":", 1)
        client = toxiproxy.Toxiproxy()
        client.update_api_consumer(host, int(port))
        proxy = client.create(upstream=f"127.0.0.1:{echo.port}", name="fresh")
        proxy.add_toxic(type="latency", attributes={"latency": 80}, stream="upstream")
        with connect(int(proxy.listen.rsplit(":", 1)[1])) as sock:
            start = time.monotonic()
            sock.sendall(b"x")
            assert recv_exact(sock, 1) == b"x"
            assert time.monotonic() - start >= 0.075
        proxy.destroy_toxic("latency_upstream")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    if wired.returncode != 0:
        pytest.fail(
            "installed fine, but `chaos-audit proxy` cannot start: harness.cli imports every sub-command "
            "module eagerly and one is missing:\n" + wired.stderr.decode()[-500:]
        )


def test_bad_config_is_logged_and_the_server_still_starts(tmp_path):
    from harness.faults.proxy.server import ProxyServer

    config = tmp_path / "proxies.json"
    config.write_text(
        '[{"name": "ok", "listen": "127.0.0.1:0", "upstream": "x:1", "enabled": null}, {"name": ""}]'
    )
    with ProxyServer(port=0) as server:
        assert server.populate_file(config) == [f"config {config}: missing required field: name at proxy 2"]
        config.write_text('[{"name": "ok", "listen": "127.0.0.1:0", "upstream": "x:1", "enabled": null}]')
        assert server.populate_file(config) == []
        assert server.proxies.get("ok").enabled  # null means the default, true
        assert server.populate_file(tmp_path / "missing.json")[0].startswith("cannot read config")
