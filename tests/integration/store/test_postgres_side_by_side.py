"""Parallel workers (``chaos-audit run --jobs``) each start their own PostgreSQL at the same moment,
on a machine whose pristine-cluster cache does not exist yet: each gets a working server on its own
port and data dir, one cache is built for all, and nothing else is left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.store import pgcache

WORKER = """
import sys
import psycopg
from harness.store.postgres import EmbeddedPostgres

with EmbeddedPostgres() as pg:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE mine (worker text)")
        conn.execute("INSERT INTO mine VALUES (%s)", (sys.argv[1],))
        rows = conn.execute("SELECT worker FROM mine").fetchall()
    print(pg.port, pg.base_dir, rows[0][0], flush=True)
"""


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    """An empty folder for the clusters and the cache, that ``nobody`` can reach (a server started
    as root runs as nobody; pytest's own tmp dirs are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="chaos-audit-test-pg-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_servers_started_side_by_side_share_one_cache_and_nothing_else(pg_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "CHAOS_AUDIT_PG_DIR": str(pg_dir), "CHAOS_AUDIT_STATE_DIR": str(tmp_path / "state")}
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, f"w{i}"], env=env, stdout=subprocess.PIPE, text=True)
        for i in range(3)
    ]
    outputs = [w.communicate(timeout=180)[0].split() for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    assert [o[2] for o in outputs] == ["w0", "w1", "w2"]  # each saw only its own table's row
    assert len({o[0] for o in outputs}) == 3 and len({o[1] for o in outputs}) == 3  # own port, own dir
    left = sorted(p.name for p in pg_dir.iterdir())
    assert len(left) == 1 and left[0].startswith(pgcache.PREFIX), left  # the one cache; clusters removed
    assert (pg_dir / left[0] / "PG_VERSION").is_file()
