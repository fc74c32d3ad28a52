"""Children bound to their parent's life: the kernel's parent-death signal and the lifeline pipe.

Real processes: a small "parent" script starts a child the way the harness does, prints the
child's pid, and is then SIGKILLed (it can run no clean-up); the child must be gone at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from harness.process.lifeline import Lifeline, die_with_parent, parent_death_signal
from harness.process.pidfiles import is_same_process, process_start_time

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")

PARENT = """
import signal, subprocess, sys, time
from harness.process.lifeline import die_with_parent
{prelude}
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True,
                         preexec_fn={preexec})
print(child.pid, flush=True)
time.sleep(60)
"""


def _spawn_parent(preexec: str, prelude: str = "") -> tuple[subprocess.Popen[str], int]:
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENT.format(preexec=preexec, prelude=prelude))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    return parent, int(parent.stdout.readline())


def _gone_within(pid: int, start: int | None, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while is_same_process(pid, start):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@linux_only
def test_a_bound_child_dies_when_its_parent_is_sigkilled() -> None:
    parent, child = _spawn_parent("die_with_parent(signal.SIGKILL)")
    start = process_start_time(child)
    parent.kill()
    parent.wait()
    assert _gone_within(child, start, 5.0)


@linux_only
def test_a_child_bound_by_sigint_dies_even_when_its_parent_ignores_sigint() -> None:
    # A parent started in the background (``chaos-audit run &``, an xdist worker) ignores SIGINT,
    # and an ignored disposition survives exec: the child would ignore the kernel's signal too and
    # run on, unbound, until it set its own handler.
    parent, child = _spawn_parent(
        "die_with_parent(signal.SIGINT)", "signal.signal(signal.SIGINT, signal.SIG_IGN)"
    )
    start = process_start_time(child)
    parent.kill()
    parent.wait()
    assert _gone_within(child, start, 5.0)


@linux_only
def test_an_unbound_child_outlives_its_parent_which_is_the_bug_being_fixed() -> None:
    parent, child = _spawn_parent("None")
    start = process_start_time(child)
    try:
        parent.kill()
        parent.wait()
        assert not _gone_within(child, start, 0.5)
    finally:
        os.kill(child, signal.SIGKILL)


@linux_only
def test_the_child_knows_which_signal_its_parents_death_sends() -> None:
    code = "from harness.process.lifeline import parent_death_signal; print(parent_death_signal())"
    done = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=die_with_parent(signal.SIGINT),
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == str(int(signal.SIGINT))
    assert parent_death_signal() == 0  # pytest itself was started unbound


def test_no_binding_from_a_thread_that_may_end_before_the_child() -> None:
    # The kernel ties the signal to the forking thread: a service restarted by a timer thread
    # would be killed when that thread ends, so nothing is armed there.
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(die_with_parent()))
    thread.start()
    thread.join()
    assert seen == [None]


def test_the_lifeline_reads_eof_once_the_parent_closes_it() -> None:
    with Lifeline() as lifeline:
        watcher = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import os; print('reading', flush=True); print(os.read({lifeline.child_fd}, 1))",
            ],
            pass_fds=(lifeline.child_fd,),
            stdout=subprocess.PIPE,
            text=True,
        )
        lifeline.child_started()
        assert watcher.stdout is not None and watcher.stdout.readline() == "reading\n"
        time.sleep(0.2)
        assert watcher.poll() is None  # still attached: the read blocks
    out, _ = watcher.communicate(timeout=60)
    assert out.strip() == "b''"
