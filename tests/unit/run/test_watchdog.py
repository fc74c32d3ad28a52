"""The pytest child's watchdog: the run command gone means Ctrl-C, then a kill if the clean-up hangs.

Real processes: the test holds the lifeline's write end (it plays ``chaos-audit run``), a small
script plays the pytest child, and closing the lifeline is the command's death.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.process.lifeline import Lifeline
from harness.process.pidfiles import is_same_process, process_start_time
from harness.run.watchdog import EXIT_KILLED

#: room for a loaded machine on top of the watchdog's own grace (never asserted on)
LOADED_ROOM_S = 60.0

CHILD = """
import signal, subprocess, sys
from harness.process.pidfiles import PidFiles
from harness.run.watchdog import watch_parent
# lives until killed; not on our stdout, so the test reads EOF as soon as the child is gone
service = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"], start_new_session=True,
                           stdout=subprocess.DEVNULL)
PidFiles.default().record("service", pid=service.pid)  # where the watchdog looks
watch_parent(int(sys.argv[1]), grace=float(sys.argv[4]))
if sys.argv[3] == "stuck":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a clean-up that never ends
print(service.pid, flush=True)
try:
    print("watching", flush=True)  # inside the try: from here on, an interrupt is healed
    while True:
        signal.pause()  # until interrupted: the child never ends by itself
except KeyboardInterrupt:
    service.kill()
    service.wait()
    print("healed", flush=True)
"""


def _child(
    lifeline: Lifeline, state: Path, mode: str, grace: float, *, sigint_ignored: bool = False
) -> tuple[subprocess.Popen[str], int]:
    """Start the stand-in child; returns once it is inside its ``try`` (it said so), with its service's pid.

    Cutting the lifeline before that point would interrupt the child before it can heal (a
    traceback, no "healed"), however long the test had waited: it waits for the child's word.
    """
    argv = [
        sys.executable,
        "-c",
        textwrap.dedent(CHILD),
        str(lifeline.child_fd),
        str(state),
        mode,
        str(grace),
    ]
    env = {**os.environ, "CHAOS_AUDIT_STATE_DIR": str(state)}
    proc = subprocess.Popen(
        argv,
        pass_fds=(lifeline.child_fd,),
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        # what a child of a background job inherits (``chaos-audit run &``, nohup)
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None,
    )
    lifeline.child_started()
    assert proc.stdout is not None
    service = int(proc.stdout.readline())
    assert proc.stdout.readline() == "watching\n"
    return proc, service


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["sigint-default", "sigint-inherited-ignored"])
def test_the_commands_death_interrupts_the_child_which_heals_and_exits(
    tmp_path: Path, sigint_ignored: bool
) -> None:
    lifeline = Lifeline()
    grace = 30.0
    proc, service = _child(lifeline, tmp_path, "normal", grace=grace, sigint_ignored=sigint_ignored)
    started = process_start_time(service)
    try:
        assert proc.poll() is None
        lifeline.close()
        # it heals at once; were it stuck, its watchdog would kill it after the grace
        out, _ = proc.communicate(timeout=grace + LOADED_ROOM_S)
        assert proc.returncode == 0 and out.strip() == "healed"
    finally:
        if is_same_process(service, started):
            os.kill(service, 9)
        if proc.poll() is None:
            proc.kill()


def test_a_stuck_clean_up_is_killed_after_the_grace_with_what_it_started(tmp_path: Path) -> None:
    lifeline = Lifeline()
    grace = 0.5
    proc, service = _child(lifeline, tmp_path, "stuck", grace=grace)
    started = process_start_time(service)
    try:
        lifeline.close()
        assert proc.wait(timeout=grace + LOADED_ROOM_S) == EXIT_KILLED
        assert not is_same_process(service, started)
        assert list((tmp_path / "pids").glob("*.json")) == []
    finally:
        if is_same_process(service, started):
            os.kill(service, 9)
        if proc.poll() is None:
            proc.kill()
