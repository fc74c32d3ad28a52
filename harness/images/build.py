"""Build the harness image: this repository installed in a virtual environment on a base image.

The build context is assembled in a temp dir rather than sent from the checkout: only the sources
the package needs, a wheelhouse built on the host (so the image build installs offline when the
base's Python matches the host's, and falls back to the index otherwise), the host's CA bundle
(pip behind a TLS-intercepting proxy works inside the build too), and ``fixtures/docker``'s files.
The legacy builder with ``--network host`` is used: no BuildKit or buildx is needed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness.errors import ConfigError
from harness.images.base import run_step, say

#: what the package build needs from the checkout (see setup.py)
SOURCES = (
    "harness",
    "fixtures/reftarget",
    "fixtures/rqtarget",
    "scenarios",
    "setup.py",
    "pyproject.toml",
    "README.md",
)
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache", "*.egg-info")


def repo_root(explicit: Path | None = None) -> Path:
    """The checkout to build from: ``explicit``, else the one this package was imported from."""
    root = explicit or Path(__file__).resolve().parents[2]
    if not (root / "fixtures" / "docker" / "Dockerfile").exists():
        raise ConfigError(
            f"no fixtures/docker/Dockerfile under {root}: images are built from a clone of the "
            "repository; hint: pass --source /path/to/clone",
            field="--source",
        )
    return root


def ca_bundle() -> Path:
    """The CA bundle pip uses on this host (honours PIP_CERT / SSL_CERT_FILE), else certifi's."""
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    import certifi

    return Path(certifi.where())


def build_harness(name: str, *, base: str, source: Path, log: bool = True) -> float:
    """Build image ``name`` FROM ``base`` with the repository at ``source``; returns seconds spent."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-audit-build-") as tmp:
        ctx = Path(tmp)
        _stage_sources(source, ctx / "src")
        say(log, "building the wheelhouse on the host (pip wheel)")
        run_step(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--wheel-dir",
                str(ctx / "wheels"),
                str(ctx / "src"),
            ],
            what="pip wheel",
        )
        shutil.rmtree(ctx / "src")
        shutil.copy(ca_bundle(), ctx / "ca-bundle.crt")
        for item in (source / "fixtures" / "docker").iterdir():
            if item.is_file():
                shutil.copy(item, ctx / item.name)
        say(log, f"docker build {name} FROM {base}")
        argv = ["docker", "build", "--network", "host", "--build-arg", f"BASE={base}", "-t", name, str(ctx)]
        run_step(argv, what="docker build", stream=log)
    return time.monotonic() - started


def _stage_sources(source: Path, dest: Path) -> None:
    for rel in SOURCES:
        src = source / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=_IGNORE)
        elif src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest / rel)
