"""The explorer's Locust load, headless and distributed (a master and worker processes), against a
real HTTP server that counts the creates it receives."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.explore.load import Load
from harness.target.load import load_target

pytestmark = pytest.mark.slow


class _Counter(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Counter.seen.append((self.path, self.headers.get("Idempotency-Key")))
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id": "x"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    _Counter.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("workers", [0, 2])
def test_load_reaches_the_api_and_stops(api: str, tmp_path: Path, workers: int) -> None:
    target, _ = load_target(None)
    load = Load(target, api, rate=4, workers=workers, out_dir=tmp_path).start()
    procs = list(load.procs)
    assert len(procs) == 1 + workers
    try:
        deadline = time.monotonic() + 60
        while len(_Counter.seen) < 6 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        load.stop()
    assert len(_Counter.seen) >= 6, (tmp_path / "load.log").read_text()[-2000:]
    assert {path for path, _ in _Counter.seen} == {"/v1/batches"}
    keys = [key for _, key in _Counter.seen]
    assert None not in keys and len(set(keys)) == len(keys), "a fresh idempotency key per create"
    assert all(proc.poll() is not None for proc in procs), "every Locust process stopped"
    if workers:
        argv = load.argv(4)
        assert "--master" in argv[0] and sum("--worker" in a for a in argv) == workers
