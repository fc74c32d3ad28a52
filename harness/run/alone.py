"""The ``alone`` rule across processes: an alone scenario runs while no other scenario does.

In ``chaos-audit run --jobs N`` the pool already never starts anything beside an alone scenario
(:mod:`harness.run.schedule`); under pytest-xdist (``pytest scenarios -n 4``) nobody plans, so the
workers agree through two ``flock`` locks in one folder that every worker of the run is given
(``--chaos-alone-lock``):

* ``room``: every scenario holds it while it runs, shared; an alone scenario holds it exclusively.
* ``turnstile``: taken before the room. An alone scenario keeps it while it waits for the room
  to empty, so the scenarios arriving meanwhile queue behind it instead of keeping the room busy
  for ever (no starvation); a shared one passes straight through.

The kernel drops a lock when its holder dies, so a killed worker blocks nobody.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from harness import catalog


@contextlib.contextmanager
def _locked(path: Path, mode: int) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield fd
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def scenario_slot(folder: Path, *, alone: bool) -> Iterator[None]:
    """Hold the room for one scenario: shared, or exclusive when ``alone``; blocks until it may run."""
    folder.mkdir(parents=True, exist_ok=True)
    room = folder / "room.lock"
    turnstile = folder / "turnstile.lock"
    with contextlib.ExitStack() as held:
        with _locked(turnstile, fcntl.LOCK_EX):  # held by an alone scenario waiting: queue behind it
            held.enter_context(_locked(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH))
        yield


class AloneGuard:
    """A pytest plugin holding :func:`scenario_slot` around each scenario (``--chaos-alone-lock``).

    Outermost (``tryfirst``): the wait for the room is not part of a scenario's duration nor of
    its pytest-timeout budget.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, None, None]:
        marker = item.get_closest_marker("audit")
        known = catalog.entry(str(marker.kwargs.get("id", ""))) if marker is not None else None
        with scenario_slot(self.folder, alone=bool(known and known.alone)):
            yield
