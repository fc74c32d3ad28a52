"""Tests that need a Docker engine and the harness image; skipped, with the reason, without them.

``.ci/run``'s Docker tier installs the engine, builds the offline images and runs these.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def _docker_or_reason() -> tuple[Any, str | None]:
    try:
        from harness.stack.containers import docker_client

        client = docker_client()
    except Exception as exc:
        return None, f"needs a Docker engine: {str(exc).splitlines()[0][:200]}"
    from harness.images import ImageSet

    image = ImageSet.configured().harness
    try:
        client.images.get(image)
    except Exception:
        return None, f"needs the harness image {image}: run `chaos-audit images build --offline`"
    return client, None


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Any]:
    """The docker SDK client of a working engine with the harness image, else skip saying why."""
    client, reason = _docker_or_reason()
    if reason:
        pytest.skip(reason)
    yield client
    client.close()
