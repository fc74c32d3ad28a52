"""The embedded PostgreSQL: real server, crash + recovery, fast fresh databases, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

from harness.process.pidfiles import PidFiles, process_start_time, wait_gone
from harness.store.postgres import EmbeddedPostgres, child_pids


def _live_pids(pids: list[int]) -> list[int]:
    return [p for p in pids if process_start_time(p) is not None]


def test_sigkill_then_restart_keeps_committed_rows(embedded_pg: EmbeddedPostgres, fresh_dsn: str) -> None:
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int primary key)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 500)")
    old_pid = embedded_pg.pid
    embedded_pg.kill()
    assert not embedded_pg.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(fresh_dsn, connect_timeout=1)
    embedded_pg.start()
    assert embedded_pg.pid != old_pid
    with psycopg.connect(fresh_dsn) as conn:
        row = conn.execute("SELECT count(*), sum(id) FROM t").fetchone()
    assert row == (500, 500 * 501 // 2)


def test_kill_takes_backends_down_too(embedded_pg: EmbeddedPostgres, fresh_dsn: str) -> None:
    conn = psycopg.connect(fresh_dsn, autocommit=True)
    conn.execute("SELECT 1")
    assert embedded_pg.pid is not None
    backends = child_pids(embedded_pg.pid)
    assert backends, "a postmaster with a client has child processes"
    try:
        embedded_pg.kill()
        assert _live_pids(backends) == []
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    finally:
        conn.close()
        embedded_pg.start()


def test_template_clone_gives_an_independent_copy(embedded_pg: EmbeddedPostgres) -> None:
    tpl = embedded_pg.create_database("tpl_clone_src")
    with psycopg.connect(tpl, autocommit=True) as conn:
        conn.execute("CREATE TABLE seeded (v text)")
        conn.execute("INSERT INTO seeded VALUES ('x')")
    copy = embedded_pg.create_database("tpl_clone_dst", template="tpl_clone_src")
    with psycopg.connect(copy, autocommit=True) as conn:
        conn.execute("INSERT INTO seeded VALUES ('y')")
    with psycopg.connect(tpl) as conn:
        assert conn.execute("SELECT count(*) FROM seeded").fetchone() == (1,)
    embedded_pg.drop_database("tpl_clone_dst")
    embedded_pg.drop_database("tpl_clone_src")


def test_close_leaves_no_process_and_no_files(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(pidfiles=PidFiles(tmp_path / "pids"))
    pg.start()
    pid = pg.pid
    assert pid is not None
    base = pg.base_dir
    pg.close()
    assert process_start_time(pid) is None
    assert not base.exists()
    assert list((tmp_path / "pids").glob("*.json")) == []


def test_a_killed_harness_is_reaped_by_the_next_run(tmp_path: Path) -> None:
    state = tmp_path / "state"
    code = textwrap.dedent(
        """
        import sys, time
        from harness.store.postgres import EmbeddedPostgres
        pg = EmbeddedPostgres()
        pg.start()
        print(pg.pid, pg.port, pg.base_dir, flush=True)
        time.sleep(300)
        """
    )
    env = {**os.environ, "CHAOS_AUDIT_STATE_DIR": str(state), "PYTHONPATH": str(Path.cwd())}
    harness = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert harness.stdout is not None
        pg_pid, port, base = harness.stdout.readline().split()
        started = process_start_time(int(pg_pid))
        harness.send_signal(signal.SIGKILL)
        harness.wait()
        # The server dies with the harness (the kernel's parent-death signal), not with the next run.
        wait_gone(int(pg_pid), started, timeout=5)
        assert process_start_time(int(pg_pid)) is None
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2)
        # The killed run could not remove its cluster: the next run does.
        assert Path(base).exists()
        reaped = PidFiles(state / "pids").reap_stale()
        assert any("pg-dir" in line and "removed 1 path(s)" in line for line in reaped), reaped
        assert not Path(base).exists()
        assert PidFiles(state / "pids").reap_stale() == []
    finally:
        if harness.poll() is None:
            harness.kill()
