"""The alone rule across processes: an alone scenario waits for the room to empty and holds it."""

from __future__ import annotations

import threading
from pathlib import Path

from harness.run.alone import scenario_slot

#: how long a thread that should be blocked is given to (wrongly) get in; only a weaker check if slow
BLOCKED_S = 0.3
#: how long one that should get in may take, on a loaded machine
GETS_IN_S = 30.0


class Holder(threading.Thread):
    """Takes the slot, says so, and keeps it until told to leave."""

    def __init__(self, folder: Path, *, alone: bool) -> None:
        super().__init__(daemon=True)
        self.folder, self.alone = folder, alone
        self.inside, self.leave = threading.Event(), threading.Event()

    def run(self) -> None:
        with scenario_slot(self.folder, alone=self.alone):
            self.inside.set()
            self.leave.wait(GETS_IN_S)


def _start(folder: Path, *, alone: bool) -> Holder:
    holder = Holder(folder, alone=alone)
    holder.start()
    return holder


def test_shared_scenarios_run_side_by_side(tmp_path: Path) -> None:
    a, b = _start(tmp_path, alone=False), _start(tmp_path, alone=False)
    assert a.inside.wait(GETS_IN_S) and b.inside.wait(GETS_IN_S)
    a.leave.set()
    b.leave.set()


def test_an_alone_scenario_waits_for_the_running_ones_and_later_ones_wait_for_it(tmp_path: Path) -> None:
    shared = _start(tmp_path, alone=False)
    assert shared.inside.wait(GETS_IN_S)
    alone = _start(tmp_path, alone=True)
    assert not alone.inside.wait(BLOCKED_S)  # the shared one is still running
    later = _start(tmp_path, alone=False)
    assert not later.inside.wait(BLOCKED_S)  # queued behind the waiting alone one, not beside it
    shared.leave.set()
    assert alone.inside.wait(GETS_IN_S)
    assert not later.inside.wait(BLOCKED_S)  # the alone one runs alone
    alone.leave.set()
    assert later.inside.wait(GETS_IN_S)
    later.leave.set()
