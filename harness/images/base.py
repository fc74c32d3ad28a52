"""The offline base image: a Debian root file system from ``debootstrap``, imported into Docker.

Machines without a container registry cannot ``FROM python:3.11-slim``. Debian's package mirror is
usually reachable, so ``debootstrap --variant=minbase`` builds a small root file system (with
``python3``, ``python3-venv`` and CA certificates included, so the image build needs no ``apt``),
and ``docker import`` turns its tarball into an image. The tarball is cached (by default under
``/var/cache/chaos-audit``), so a second build on the same machine skips the ~80 s bootstrap.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError, ServiceError

SUITE = "bookworm"
INCLUDE = ("python3", "python3-venv", "ca-certificates")
CACHE_DIR_ENV = "CHAOS_AUDIT_CACHE_DIR"
DEFAULT_CACHE_DIR = Path("/var/cache/chaos-audit")
#: emptied in the root file system: package caches and docs (the folders stay, apt still works)
_PRUNE = ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*", "usr/share/doc/*", "usr/share/man/*")


@dataclass(frozen=True, kw_only=True)
class BaseSpec:
    """What goes into the base: suite, extra packages, mirror (None = debootstrap's default)."""

    suite: str = SUITE
    include: tuple[str, ...] = INCLUDE
    mirror: str | None = None

    def cache_key(self) -> str:
        digest = hashlib.sha256(f"{self.suite}|{','.join(self.include)}".encode()).hexdigest()[:10]
        return f"base-{self.suite}-minbase-{digest}.tar"


def cache_dir() -> Path:
    """Where the bootstrap tarball is kept: ``$CHAOS_AUDIT_CACHE_DIR`` or /var/cache/chaos-audit."""
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


def image_exists(name: str) -> bool:
    result = subprocess.run(["docker", "image", "inspect", name], capture_output=True, check=False)
    return result.returncode == 0


def build_base(name: str, spec: BaseSpec, *, rebuild: bool = False, log: bool = True) -> float:
    """Make sure image ``name`` exists; returns the seconds spent (0 when it already existed).

    Order: the image itself, else the cached tarball (``docker import`` only), else a fresh
    ``debootstrap`` (cached for next time). ``rebuild`` ignores both.
    """
    started = time.monotonic()
    if not rebuild and image_exists(name):
        say(log, f"base image {name} exists")
        return 0.0
    tarball = cache_dir() / spec.cache_key()
    if rebuild or not tarball.exists():
        _bootstrap(spec, tarball, log=log)
    say(log, f"importing {tarball} as {name}")
    run_step(
        [
            "docker",
            "import",
            "--change",
            'CMD ["/bin/bash"]',
            "--change",
            "ENV LANG=C.UTF-8",
            str(tarball),
            name,
        ],
        what="docker import",
    )
    return time.monotonic() - started


def _bootstrap(spec: BaseSpec, tarball: Path, *, log: bool) -> None:
    if os.geteuid() != 0:
        raise ConfigError(
            "debootstrap needs root: run `chaos-audit images build --offline` as root", field="--offline"
        )
    if shutil.which("debootstrap") is None:
        raise ConfigError(
            "debootstrap is not installed; hint: apt-get install -y debootstrap", field="--offline"
        )
    tarball.parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="chaos-audit-rootfs-", dir=tarball.parent))
    try:
        argv = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(spec.include)}",
            spec.suite,
            str(root),
        ]
        if spec.mirror:
            argv.append(spec.mirror)
        say(log, f"debootstrap {spec.suite} into {root} (a few minutes the first time)")
        t0 = time.monotonic()
        run_step(argv, what="debootstrap", log_file=tarball.with_suffix(".debootstrap.log"))
        say(log, f"debootstrap done in {time.monotonic() - t0:.0f} s")
        for pattern in _PRUNE:
            for path in root.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        partial = tarball.with_suffix(".partial")
        run_step(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], what="tar")
        partial.replace(tarball)  # atomic: a killed build never leaves a truncated cache
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_step(argv: list[str], *, what: str, log_file: Path | None = None, stream: bool = False) -> None:
    """Run one build step; on failure raise ServiceError with the output's tail (or its log path).

    ``stream`` shows the output live (a long ``docker build``); otherwise it is captured so the
    error can quote it, and kept in ``log_file`` when given.
    """
    if stream:
        if subprocess.run(argv, check=False).returncode != 0:
            raise ServiceError(f"{what} failed; its output is above")
        return
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if log_file is not None:
        log_file.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-8:]
        where = f"; full log: {log_file}" if log_file else ""
        raise ServiceError(f"{what} failed ({result.returncode}): " + " | ".join(tail) + where)


def say(enabled: bool, line: str) -> None:
    """One progress line of the build (builds take minutes: the user sees where it is)."""
    if enabled:
        print(f"chaos-audit images: {line}", flush=True)
