"""An embedded PostgreSQL server: real, on 127.0.0.1 and a free port, killable and restartable.

The harness is the server's parent (``Popen`` + ``wait``): a SIGKILLed postmaster is reaped at
once, so a restart is not delayed by a slow PID 1. The server runs in its own
process group so a kill takes its backends with it, as a machine crash would, and is SIGKILLed
by the kernel if the harness dies (``die_with_parent``; its backends follow the postmaster).
``fsync`` is off (only an OS crash could lose data; a process crash cannot) but
``synchronous_commit`` stays on, so every committed row survives a SIGKILL and comes back through
crash recovery.

Scenarios get a fresh database quickly by cloning a template database (``create_database``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg

from harness.errors import StoreError
from harness.process.lifeline import die_with_parent
from harness.process.pidfiles import PidFiles, process_start_time, wait_gone
from harness.process.ports import free_port as free_port  # re-exported: where tests took it from
from harness.store import pgcache
from harness.store.pgbin import RunAs, resolve_bin_dir, run_as_user

READY_TIMEOUT_S = 30.0
PG_DIR_ENV = "CHAOS_AUDIT_PG_DIR"
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "on",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
    # POSIX segments (the default) are files in /dev/shm that a SIGKILLed postmaster never removes;
    # mmap keeps them in the data dir (pg_dynshmem), removed with the cluster
    "dynamic_shared_memory_type": "mmap",
}


def child_pids(parent: int) -> list[int]:
    """Pids whose parent is ``parent`` (from /proc), e.g. the backends of a postmaster."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2 :].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def data_parent() -> Path:
    """Where clusters live: ``$CHAOS_AUDIT_PG_DIR``, else a RAM disk (/dev/shm) with room, else the
    temp dir. A RAM disk makes cluster copies and WAL writes cheap; a process crash (what the audit
    injects) loses nothing there, only a machine crash would, and then the run is over anyway."""
    env = os.environ.get(PG_DIR_ENV)
    if env:
        return Path(env)
    shm = Path("/dev/shm")
    try:
        if os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * 2**30:
            return shm
    except OSError:
        pass
    return Path(tempfile.gettempdir())


class EmbeddedPostgres:
    """A PostgreSQL server owned by this process; use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        bin_dir: Path | None = None,
        base_dir: Path | None = None,
        port: int | None = None,
        pidfiles: PidFiles | None = None,
    ) -> None:
        self._run_as: RunAs | None = run_as_user()
        self._bin_dir = resolve_bin_dir(bin_dir, self._run_as)
        self._owns_base = base_dir is None
        self.base_dir = base_dir or Path(tempfile.mkdtemp(prefix="chaos-audit-pg-", dir=data_parent()))
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "postgres.log"
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pidfiles = pidfiles or PidFiles.default()
        self._pid_key: str | None = None
        self._dir_key = self._pidfiles.record(
            "pg-dir", cleanup_paths=[self.base_dir] if self._owns_base else []
        )

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Initialise the data dir if needed, start the server and wait until it answers SQL."""
        if self.running:
            return
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        argv = [str(self._bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        for key, value in SERVER_SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self._proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent(),  # armed after the user switch, which would clear it
                env=self._env(),
                user=self._uid,
                group=self._gid,
                extra_groups=self._groups,
            )
        except OSError as exc:
            raise StoreError(f"could not exec {argv[0]}: {exc}") from exc
        finally:
            log.close()
        self._pid_key = self._pidfiles.record("postgres", pid=self._proc.pid)
        self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Poll with real connections until the server answers ``SELECT 1``."""
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise StoreError(
                    f"postgres exited with code {self._proc.returncode} while starting; "
                    f"hint: read {self.log_path}: {self._log_tail()}"
                )
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                time.sleep(0.02)
        raise StoreError(
            f"postgres on 127.0.0.1:{self.port} did not answer SELECT 1 within {timeout:.0f}s "
            f"(last error: {last_error}); hint: read {self.log_path}"
        )

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends (a crash), and reap them at once."""
        self._signal_and_reap(signal.SIGKILL)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), SIGKILL if it takes more than 10 s."""
        if not self.running:
            return
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._proc.pid, signal.SIGINT)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._signal_and_reap(signal.SIGKILL)
        self._after_exit()

    def restart(self) -> None:
        """Start again after a kill or stop; crash recovery replays the WAL."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP the whole server (it hangs, connections stay open)."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after ``pause``."""
        self._signal_group(signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and remove its files (if this object created the base dir)."""
        try:
            self.resume()
            self.stop()
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

    # -- databases -------------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres") -> str:
        """libpq URL of a database on this server (user ``postgres``, trust auth, loopback)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create ``name`` (a copy of ``template`` when given; file copy is fastest) and return its DSN."""
        ident = psycopg.sql.Identifier(name)
        query = psycopg.sql.SQL("CREATE DATABASE {}").format(ident)
        if template is not None:
            query = psycopg.sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                ident, psycopg.sql.Identifier(template)
            )
        try:
            with psycopg.connect(self.dsn(), autocommit=True) as conn:
                conn.execute(query)
        except psycopg.Error as exc:
            raise StoreError(f"could not create database {name!r}: {exc}") from exc
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting its sessions first."""
        query = psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            psycopg.sql.Identifier(name)
        )
        try:
            with psycopg.connect(self.dsn(), autocommit=True) as conn:
                conn.execute(query)
        except psycopg.Error as exc:
            raise StoreError(f"could not drop database {name!r}: {exc}") from exc

    # -- internals -------------------------------------------------------------------------
    def _initdb(self) -> None:
        """Give the server a fresh cluster: a copy of a cached pristine ``initdb`` output.

        initdb costs 0.6-1.5 s; copying its never-started output costs ~0.1 s. The cache
        (``harness.store.pgcache``) is keyed by the binary's content and the user, built once per
        machine (atomically renamed into place), and stale ones are removed.
        """
        pristine = self._pristine_cluster()
        shutil.copytree(pristine, self.data_dir, symlinks=True)
        if self._run_as is not None:
            os.chown(self.base_dir, self._run_as.uid, self._run_as.gid)
            os.chmod(self.base_dir, 0o755)
            for root, dirs, files in os.walk(self.data_dir):
                for name in (*dirs, *files):
                    os.lchown(os.path.join(root, name), self._run_as.uid, self._run_as.gid)
            os.chown(self.data_dir, self._run_as.uid, self._run_as.gid)
            self.log_path.touch()
            os.chown(self.log_path, self._run_as.uid, self._run_as.gid)
        os.chmod(self.data_dir, 0o700)

    def _pristine_cluster(self) -> Path:
        parent = data_parent()
        cache = pgcache.cache_dir(
            parent, self._bin_dir / "postgres", self._uid if self._uid is not None else os.getuid()
        )
        pgcache.remove_stale(parent, keep=cache)
        if (cache / "PG_VERSION").exists():
            pgcache.mark_used(cache)
            return cache
        staging = Path(tempfile.mkdtemp(prefix=pgcache.PREFIX, dir=parent))
        os.chmod(staging, 0o755)
        data = staging / "data"
        data.mkdir()
        if self._run_as is not None:
            os.chown(data, self._run_as.uid, self._run_as.gid)
        argv = [
            str(self._bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
        ]  # fmt: skip
        result = subprocess.run(
            argv, capture_output=True, env=self._env(), check=False,
            user=self._uid, group=self._gid, extra_groups=self._groups,
        )  # fmt: skip
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            err = result.stderr.decode(errors="replace")[-800:]
            raise StoreError(f"initdb failed ({result.returncode}): {err}")
        with contextlib.suppress(OSError):  # another run built it first: use theirs
            data.rename(cache)
        shutil.rmtree(staging, ignore_errors=True)
        return cache

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env

    @property
    def _uid(self) -> int | None:
        return self._run_as.uid if self._run_as else None

    @property
    def _gid(self) -> int | None:
        return self._run_as.gid if self._run_as else None

    @property
    def _groups(self) -> list[int] | None:
        return [] if self._run_as else None

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.running and self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, sig)

    def _signal_and_reap(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        # Backends call setsid(), so they are not in the postmaster's group: signal them by parentage.
        children = (
            [(p, process_start_time(p)) for p in child_pids(self._proc.pid)] if sig == signal.SIGKILL else []
        )
        self._signal_group(sig)
        for pid, _ in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        for pid, started in children:
            wait_gone(pid, started)
        if sig == signal.SIGKILL:
            self._signal_group(signal.SIGCONT)
        self._proc.wait()
        self._after_exit()

    def _after_exit(self) -> None:
        if self._pid_key is not None:
            self._pidfiles.forget(self._pid_key)
            self._pid_key = None

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-600:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
