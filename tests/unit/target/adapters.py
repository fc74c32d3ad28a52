"""Adapters named by the observation-contract tests' target files (``adapter: module:Class``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.target.adapter import AdapterContext


class WorkersFromElsewhere:
    """Answers only ``workers`` (say, from a process supervisor's API); the rest stays SQL."""

    def __init__(self, context: AdapterContext) -> None:
        self.context = context

    def workers(self) -> Iterable[Mapping[str, Any]]:
        return [{"worker": "w-a", "seconds_since_heartbeat": 0.2}]
