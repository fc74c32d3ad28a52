"""The pristine-cluster cache: one never-started ``initdb`` output per PostgreSQL build and user.

A fresh cluster is a copy of this cache (0.1 s instead of 0.6-1.5 s of initdb). The cache lives
next to the clusters, usually on /dev/shm, which is RAM: it must stay bounded. So it is keyed by
the *content* of the ``postgres`` binary (every venv installing the same wheel shares one cache,
where a key by size and mtime made one 39 MB copy per install), each use marks it, and every
other cache or half-built staging dir not used for ``STALE_S`` is removed when a cache is looked up.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import time
from pathlib import Path

PREFIX = "chaos-audit-pgdata-"
#: a cache or staging dir untouched this long belongs to no running audit (a copy takes 0.1 s,
#: building one a few seconds), so it can go
STALE_S = 3600.0


@functools.lru_cache(maxsize=8)
def _digest(binary: str, size: int, mtime_ns: int) -> str:
    """sha256 of the binary (size and mtime only make the memo safe within one process)."""
    h = hashlib.sha256()
    with open(binary, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def cache_dir(parent: Path, postgres: Path, uid: int) -> Path:
    """Where the pristine cluster of this ``postgres`` binary, owned by ``uid``, lives under ``parent``."""
    st = postgres.stat()
    return parent / f"{PREFIX}{_digest(str(postgres), st.st_size, st.st_mtime_ns)}-{uid}"


def mark_used(cache: Path) -> None:
    """Note a use of ``cache``, so that it is not taken for stale while audits use it."""
    with contextlib.suppress(OSError):
        os.utime(cache)


def remove_stale(parent: Path, keep: Path, *, now: float | None = None) -> list[Path]:
    """Remove every other cache or staging dir under ``parent`` unused for ``STALE_S``; the removed."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    for entry in parent.glob(f"{PREFIX}*"):
        if entry == keep:
            continue
        try:
            if now - entry.stat().st_mtime < STALE_S:
                continue
        except OSError:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed
