"""``chaos-audit images build``: build the images the docker backend and the compose file run.

    chaos-audit images build              # harness image FROM python:3.11-slim (needs a registry)
    chaos-audit images build --offline    # debootstrap base, then the harness image on it

After ``--offline`` the docker backend runs PostgreSQL and the proxy from the harness image too
(it falls back by itself when the official images cannot be pulled). ``--prefix`` renames every
image (``PREFIX/harness:latest``, ``PREFIX/base:bookworm``); point the backend at renamed images
with ``CHAOS_AUDIT_HARNESS_IMAGE`` (see ``harness.images``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.images import DEFAULT_PREFIX, DEFAULT_PYTHON_BASE, harness_image_name, offline_base_name


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``images`` sub-command's options to ``parser``."""
    sub = parser.add_subparsers(dest="images_command", metavar="ACTION")
    sub.required = True
    build = sub.add_parser("build", help="build the harness image (and, offline, its base)")
    build.add_argument(
        "--offline", action="store_true", help="no registry: build the base with debootstrap + docker import"
    )
    build.add_argument(
        "--base",
        default=None,
        help=f"base image NAME (default: {DEFAULT_PYTHON_BASE}; offline: {offline_base_name()})",
    )
    build.add_argument("--prefix", default=DEFAULT_PREFIX, help="image name prefix (default: %(default)s)")
    build.add_argument("--mirror", default=None, help="Debian mirror for debootstrap (default: its own)")
    build.add_argument("--rebuild-base", action="store_true", help="ignore the cached debootstrap tarball")
    build.add_argument("--source", type=Path, default=None, help="repository checkout to build from")


def main(args: argparse.Namespace) -> int:
    """Build the images; prints the names and the time each step took."""
    from harness.images.base import BaseSpec, build_base
    from harness.images.build import build_harness, repo_root

    source = repo_root(args.source)
    base: str = args.base or (offline_base_name(args.prefix) if args.offline else DEFAULT_PYTHON_BASE)
    if args.offline:
        spent = build_base(base, BaseSpec(mirror=args.mirror), rebuild=args.rebuild_base)
        print(f"chaos-audit images: base {base} ready ({spent:.0f} s)")
    name = harness_image_name(args.prefix)
    spent = build_harness(name, base=base, source=source)
    print(f"chaos-audit images: harness image {name} ready ({spent:.0f} s)")
    return 0
