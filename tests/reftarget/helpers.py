"""Test helpers for the reference target: waiting, SQL, JSON log capture, worker threads, processes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
from psycopg.rows import dict_row
from reftarget.config import Settings
from reftarget.worker.loop import Worker

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"


def wait_for(
    predicate: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"
) -> T:
    """Poll ``predicate`` until it returns something truthy; AssertionError naming ``what``."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def rows(dsn: str, query: str, params: Any = None) -> list[dict[str, Any]]:
    """Run one query on a short-lived connection (committed)."""
    with psycopg.connect(dsn, row_factory=dict_row, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def one(dsn: str, query: str, params: Any = None) -> dict[str, Any]:
    result = rows(dsn, query, params)
    assert result, f"no row for {query}"
    return result[0]


def reset_database(dsn: str) -> None:
    """Empty every table of the reference target (and end other sessions on the database)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        for table in (
            "workflow_notifications",
            "workflow_events",
            "workflow_steps",
            "workflows",
            "results",
            "transitions",
            "items",
            "batches",
            "workers",
        ):  # DELETE: cheaper than
            conn.execute(f"DELETE FROM {table}")  # TRUNCATE's new files for the few rows a test leaves
        conn.execute(
            "UPDATE circuits SET state = 'closed', consecutive_failures = 0, opened_at = NULL, "
            "open_until = NULL, probe_worker = NULL, probe_until = NULL"
        )
        if conn.execute("SELECT relpersistence FROM pg_class WHERE oid = 'items'::regclass").fetchone() != (
            "p",
        ):
            conn.execute("ALTER TABLE items SET LOGGED")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LogBuffer(io.TextIOBase):
    """A stream for ``reftarget.log`` that keeps every JSON line, thread-safely."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[dict[str, Any]] = []

    def write(self, s: str) -> int:
        with self._lock:
            for line in s.splitlines():
                if line.strip():
                    self.records.append(json.loads(line))
        return len(s)

    def events(self, name: str | None = None, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            found = list(self.records)
        return [
            r
            for r in found
            if (name is None or r["event"] == name) and all(str(r.get(k)) == str(v) for k, v in match.items())
        ]


class WorkerThreads:
    """In-process workers (threads), each with its own stop event; stopped at teardown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: list[tuple[Worker, threading.Thread]] = []

    def start(self, n: int = 1, **overrides: Any) -> list[Worker]:
        started = []
        for _ in range(n):
            wid = f"w{len(self.running) + 1}"
            settings = replace(self.settings, worker_id=overrides.pop("worker_id", wid), **overrides)
            worker = Worker(settings)
            thread = threading.Thread(target=worker.run, name=f"worker-{settings.worker_id}", daemon=True)
            thread.start()
            self.running.append((worker, thread))
            started.append(worker)
        return started

    def stop(self, worker: Worker | None = None, *, timeout: float = 10.0) -> None:
        for w, thread in list(self.running):
            if worker is None or w is worker:
                w.stop.set()
                thread.join(timeout)
                assert not thread.is_alive(), f"worker {w.settings.worker_id} did not stop"
                self.running.remove((w, thread))


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment of a reftarget subprocess configured like ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFTARGET_")}
    env["PYTHONPATH"] = os.pathsep.join([str(FIXTURES), str(REPO), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env.update(
        {
            "REFTARGET_DATABASE_URL": settings.database_url,
            "REFTARGET_PROVIDER_URL": settings.provider_url,
            "REFTARGET_LEASE_S": str(settings.lease_s),
            "REFTARGET_HEARTBEAT_S": str(settings.heartbeat_s),
            "REFTARGET_POLL_S": str(settings.poll_s),
            "REFTARGET_PROVIDER_TIMEOUT_S": str(settings.provider_timeout_s),
            "REFTARGET_DEFECTS": ",".join(sorted(settings.defects)),
        }
    )
    env.update(extra)
    return env


class Services:
    """Reference-target processes (API, workers) started for one test; killed at teardown."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, module: str, **env: str) -> subprocess.Popen[bytes]:
        out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", module],
            env=service_env(self.settings, **env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.procs[name] = proc
        return proc

    def api(self, name: str = "api") -> str:
        port = free_port()
        self.start(name, "reftarget.api", REFTARGET_PORT=str(port), REFTARGET_HOST="127.0.0.1")
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if self.procs[name].poll() is not None:
                raise AssertionError(f"{name} exited: {self.logs(name)[-2000:]}")
            try:
                return httpx.get(f"{url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=20, what=f"{name} healthy")
        return url

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        return self.start(name, "reftarget.worker", REFTARGET_WORKER_ID=name)

    def signal(self, name: str, sig: signal.Signals) -> None:
        self.procs[name].send_signal(sig)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.kill()
        proc.wait(5)

    def logs(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def events(self, name: str, event: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in self.logs(name).splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if event is None or record.get("event") == event:
                    out.append(record)
        return out

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(5)


@contextlib.contextmanager
def services(settings: Settings, log_dir: Path) -> Iterator[Services]:
    svc = Services(settings, log_dir)
    try:
        yield svc
    finally:
        svc.stop_all()


def create_batch(
    settings: Settings, n: int = 5, *, key: str | None = None, cid: str = "cid-test", **kw: Any
) -> str:
    """Create a batch directly through the store (no API needed); returns its id."""
    import uuid

    from reftarget.store import batches as store

    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        row, _ = store.create(
            conn,
            store.NewBatch(count=n if "items" not in kw else None, **kw),
            key=key or str(uuid.uuid4()),
            correlation_id=cid,
            settings=settings,
        )
    return str(row["id"])


TERMINAL = {"completed", "failed", "partial", "cancelled", "timeout"}


def wait_batch(
    dsn: str, batch_id: str, states: set[str] | None = None, timeout: float = 15.0
) -> dict[str, Any]:
    """Wait until the batch is in one of ``states`` (default: terminal); returns the batch row."""
    want = states or TERMINAL

    def reached() -> dict[str, Any] | None:
        row = one(dsn, "SELECT * FROM batches WHERE id = %s", (batch_id,))
        return row if row["status"] in want else None

    return wait_for(reached, timeout=timeout, what=f"batch {batch_id} in {sorted(want)}")


def items_of(dsn: str, batch_id: str) -> dict[int, dict[str, Any]]:
    return {
        r["seq"]: r for r in rows(dsn, "SELECT * FROM items WHERE batch_id = %s ORDER BY seq", (batch_id,))
    }


@contextlib.contextmanager
def api_server(settings: Settings) -> Iterator[str]:
    """The API served by uvicorn in a thread (a real socket: disconnects behave as in production)."""
    import uvicorn
    from reftarget.api.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(
        create_app(settings), log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=15, what="in-thread API started")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
