"""Which service a holder id names: a target's worker ids need not be the target file's service names.

Scenarios that kill or pause "the worker holding item 8" read the holder through the contract
(``observe.item_fields.holder`` or the store's ``items.holder``). A job library often records its own
ids: a numeric row id, ``host.pid``, ``celery@host``. The target file maps them back:

- ``observe.holders: {"1": worker-1, "2": worker-2}``: fixed ids (a worker id set in its config);
- ``observe.holder_pid: '(?P<pid>\\d+)$'``: a regex whose ``pid`` group is the holder's process id; the
  service is the one whose process group contains that pid (local and docker-less backends).

A holder that maps to no service stays as it is (a scenario then says it names no started service).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from harness.target.model import Target


def process_group_of(pid: int) -> int | None:
    """The process group of ``pid`` (/proc), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return None


class HolderMap:
    """Maps a target's holder ids onto its services."""

    def __init__(self, target: Target, service_pids: Callable[[], Mapping[str, int]]) -> None:
        self.target = target
        self.service_pids = service_pids  #: the started services' (group leader) pids
        pattern = target.observe.holder_pid
        self.pattern = re.compile(pattern) if pattern else None

    def service(self, holder: str) -> str:
        """The service ``holder`` names (itself when it already is one, or maps to none)."""
        if holder in self.target.services:
            return holder
        fixed = self.target.observe.holders.get(holder)
        if fixed is not None:
            return fixed
        if self.pattern is not None:
            match = self.pattern.search(holder)
            if match and match.groupdict().get("pid"):
                return self._by_pid(int(match.group("pid"))) or holder
        return holder

    def _by_pid(self, pid: int) -> str | None:
        group = process_group_of(pid)
        for name, leader in self.service_pids().items():
            if pid == leader or (group is not None and group == leader):
                return name
        return None
