"""The pytest child's watch on ``chaos-audit run``: when the command is gone, the audit stops too.

``chaos-audit run`` passes the child the read end of a :class:`~harness.process.lifeline.Lifeline`
(``--chaos-parent-fd``). When the command dies, however it dies (a CI timeout's SIGKILL included),
the read returns EOF and this thread stops the audit the way Ctrl-C does: ``SIGINT`` to this
process, so pytest raises ``KeyboardInterrupt`` and every scenario's ``finally`` heals its faults
and stops its stack. On Linux the kernel has already sent that ``SIGINT`` (the child was started
with ``die_with_parent(SIGINT)``), so the thread does not send a second one, which could cut the
clean-up in half. If the clean-up has not ended the process after a grace period (a hung heal, a
wedged C call), the thread kills everything this process recorded in the pid files, then its own
process group, so nothing outlives the command by more than the grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

from harness.process.lifeline import parent_death_signal
from harness.process.pidfiles import PidFiles

#: how long the interrupted audit may take to heal and stop before it is killed
GRACE_S = 20.0
#: exit code of a child that had to be killed by its own watchdog (``chaos-audit run``: incomplete)
EXIT_KILLED = 3


def watch_parent(fd: int, *, grace: float = GRACE_S) -> threading.Thread:
    """Start the daemon thread that stops this process once ``fd`` (the lifeline) reads EOF.

    Call it from the main thread: the kernel keeps the parent-death signal per thread (a new
    thread starts without one), so only the main thread can tell whether the kernel will interrupt.
    """
    interruptible()
    kernel_interrupts = parent_death_signal() == signal.SIGINT
    thread = threading.Thread(
        target=_watch, args=(fd, grace, kernel_interrupts), name="chaos-audit-parent-watch", daemon=True
    )
    thread.start()
    return thread


def interruptible() -> None:
    """Make SIGINT raise ``KeyboardInterrupt`` here even when it was inherited as ignored.

    SIGINT is how this process is stopped (the command's Ctrl-C forwarded, the kernel's
    parent-death signal, this watchdog's own), but a process started from a background job
    (``chaos-audit run &`` in a script, ``nohup``) inherits SIGINT ignored, and Python then keeps
    it ignored: every stop would wait out its grace and end in a kill, with nothing healed.
    """
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    ):
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _watch(fd: int, grace: float, kernel_interrupts: bool) -> None:
    with contextlib.suppress(OSError):
        while os.read(fd, 64):  # the command never writes: anything read is ignored
            pass
    _parent_gone(grace, kernel_interrupts)


def _parent_gone(grace: float, kernel_interrupts: bool) -> None:
    _say("chaos-audit run is gone: stopping the audit (faults are healed, services stopped)")
    if not kernel_interrupts:
        os.kill(os.getpid(), signal.SIGINT)
    threading.Event().wait(grace)  # a clean stop ends the process, and this daemon thread with it
    _say(f"the audit did not stop within {grace:.0f} s of chaos-audit run's end: killing what it started")
    for line in PidFiles.default().reap_own():
        _say(line)
    if os.getpgrp() == os.getpid():  # our own group (start_new_session): take any helper along
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(EXIT_KILLED)


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(f"chaos-audit: {text}", file=sys.__stderr__, flush=True)
