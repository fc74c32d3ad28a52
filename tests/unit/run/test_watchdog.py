"""The pytest child's watchdog: the run command gone means Ctrl-C, then a kill if the clean-up hangs.

Real processes: the test holds the lifeline's write end (it plays ``chaos-audit run``), a small
script plays the pytest child, and closing the lifeline is the command's death.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness.process.lifeline import Lifeline
from harness.process.pidfiles import is_same_process, process_start_time
from harness.run.watchdog import EXIT_KILLED

CHILD = """
import signal, subprocess, sys, time
from harness.process.pidfiles import PidFiles
from harness.run.watchdog import watch_parent
if sys.argv[3] == "stuck":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a clean-up that never ends
service = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
PidFiles.default().record("service", pid=service.pid)  # where the watchdog looks
watch_parent(int(sys.argv[1]), grace=float(sys.argv[4]))
print(service.pid, flush=True)
try:
    time.sleep(60)
except KeyboardInterrupt:
    service.kill()
    service.wait()
    print("healed", flush=True)
"""


def _child(lifeline: Lifeline, state: Path, mode: str, grace: float) -> tuple[subprocess.Popen[str], int]:
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
    proc = subprocess.Popen(argv, pass_fds=(lifeline.child_fd,), stdout=subprocess.PIPE, text=True, env=env)
    lifeline.child_started()
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def test_the_commands_death_interrupts_the_child_which_heals_and_exits(tmp_path: Path) -> None:
    lifeline = Lifeline()
    proc, _ = _child(lifeline, tmp_path, "normal", grace=30)
    time.sleep(0.2)
    assert proc.poll() is None
    lifeline.close()
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and out.strip() == "healed"


def test_a_stuck_clean_up_is_killed_after_the_grace_with_what_it_started(tmp_path: Path) -> None:
    lifeline = Lifeline()
    proc, service = _child(lifeline, tmp_path, "stuck", grace=0.5)
    started = process_start_time(service)
    try:
        lifeline.close()
        assert proc.wait(timeout=10) == EXIT_KILLED
        assert not is_same_process(service, started)
        assert list((tmp_path / "pids").glob("*.json")) == []
    finally:
        if is_same_process(service, started):
            os.kill(service, 9)
        if proc.poll() is None:
            proc.kill()
