"""The pristine-cluster cache stays bounded: one per binary content and user, stale ones removed."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from harness.store import pgcache


def _binary(where: Path, content: bytes) -> Path:
    where.mkdir(parents=True)
    path = where / "postgres"
    path.write_bytes(content)
    return path


def test_two_installs_of_the_same_binary_share_one_cache(tmp_path: Path) -> None:
    a = _binary(tmp_path / "venv-a", b"postgres 16.4 build")
    b = _binary(tmp_path / "venv-b", b"postgres 16.4 build")
    os.utime(b, (1_000_000, 1_000_000))  # installed at another time: size and mtime do not matter
    assert pgcache.cache_dir(tmp_path, a, 65534) == pgcache.cache_dir(tmp_path, b, 65534)


def test_another_build_or_user_gets_its_own_cache(tmp_path: Path) -> None:
    a = _binary(tmp_path / "venv-a", b"postgres 16.4 build")
    c = _binary(tmp_path / "venv-c", b"postgres 17.0 build")
    assert pgcache.cache_dir(tmp_path, a, 0) != pgcache.cache_dir(tmp_path, c, 0)
    assert pgcache.cache_dir(tmp_path, a, 0) != pgcache.cache_dir(tmp_path, a, 65534)


def test_stale_caches_and_staging_dirs_are_removed_the_current_and_recent_ones_kept(tmp_path: Path) -> None:
    old = time.time() - 2 * pgcache.STALE_S
    names = ("10946704-1796390242-65534", "staging-abc", "keep-me", "recent-other")
    dirs = {n: tmp_path / f"{pgcache.PREFIX}{n}" for n in names}
    for d in dirs.values():
        (d / "data").mkdir(parents=True)
        (d / "data" / "PG_VERSION").write_text("16\n")
    for n in ("10946704-1796390242-65534", "staging-abc", "keep-me"):
        os.utime(dirs[n], (old, old))
    unrelated = tmp_path / "PostgreSQL.1234"
    unrelated.write_bytes(b"x")
    os.utime(unrelated, (old, old))
    removed = pgcache.remove_stale(tmp_path, keep=dirs["keep-me"])
    assert sorted(removed) == sorted([dirs["10946704-1796390242-65534"], dirs["staging-abc"]])
    assert dirs["keep-me"].exists() and dirs["recent-other"].exists() and unrelated.exists()


def test_a_use_marks_the_cache_fresh(tmp_path: Path) -> None:
    cache = tmp_path / f"{pgcache.PREFIX}x-0"
    cache.mkdir()
    old = time.time() - 2 * pgcache.STALE_S
    os.utime(cache, (old, old))
    pgcache.mark_used(cache)
    assert pgcache.remove_stale(tmp_path, keep=tmp_path / "other") == []
    shutil.rmtree(cache)
