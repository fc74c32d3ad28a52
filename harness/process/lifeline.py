"""Bind a child process's life to its parent's, so a SIGKILLed harness leaves nothing running.

A harness that is SIGKILLed (as a CI timeout does) runs no ``finally`` block: everything it started
would live on, re-parented to PID 1, for the rest of the audit and beyond. Two bindings, because
neither covers every case alone:

* :func:`die_with_parent` returns a ``preexec_fn`` that asks the kernel
  (``prctl(PR_SET_PDEATHSIG)``) to send a signal to the child the moment its parent dies. Linux
  only; elsewhere it returns None and the child is not bound (the pid files still let the next run
  reap it). The kernel ties the binding to the *thread* that forked, not the process, so it is only
  armed from the main thread: a service restarted by a timer or pool thread would otherwise be
  killed when that thread ends. The setting survives ``exec`` and is armed after ``Popen``'s
  ``user=`` switch (a credential change would clear it). A catchable signal is reset to its default
  action in the child first: a parent started in the background ignores SIGINT, the child would
  inherit that across ``exec`` and shrug off the kernel's signal until it set a handler of its own.
* :class:`Lifeline` is a pipe whose write end only the parent holds; the child watches the read end
  and sees EOF when the parent is gone, however it died and on any OS. It lets a child that must
  clean up (the audit's pytest child) notice, and bound how long its clean-up may take.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable
from functools import cache
from types import TracebackType

_PR_SET_PDEATHSIG = 1
_PR_GET_PDEATHSIG = 2
#: exit code of a child whose parent died between fork and the binding (it must not run unbound)
ORPHANED_AT_START = 1

_Prctl = Callable[[int, int, int, int, int], int]


@cache
def _prctl() -> _Prctl | None:
    """libc's ``prctl``, looked up once (never in a forked child), or None when not on Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    prctl: _Prctl = fn
    return prctl


def die_with_parent(sig: signal.Signals = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when this process dies, or None.

    None off Linux and outside the main thread (see the module docstring): pass it to ``Popen``
    as is, ``preexec_fn=None`` is ``Popen``'s default.
    """
    prctl = _prctl()
    if prctl is None or threading.current_thread() is not threading.main_thread():
        return None
    parent, signum = os.getpid(), int(sig)
    catchable = sig not in (signal.SIGKILL, signal.SIGSTOP)

    def arm() -> None:  # runs in the forked child before exec: no imports, no locks
        if catchable:  # an ignored signal stays ignored across exec: the binding would do nothing
            signal.signal(signum, signal.SIG_DFL)
        prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the binding existed: do not run unbound
            os._exit(ORPHANED_AT_START)

    return arm


def parent_death_signal() -> int:
    """The signal this process gets when its parent dies (0: none, or not on Linux).

    Per thread: ask from the main thread (the one ``exec`` started), a new thread always says 0.
    """
    prctl = _prctl()
    if prctl is None:
        return 0
    value = ctypes.c_int(0)
    if prctl(_PR_GET_PDEATHSIG, ctypes.addressof(value), 0, 0, 0) != 0:
        return 0
    return value.value


class Lifeline:
    """A pipe from this process to one child: the child's end reads EOF once this process is gone.

    Pass :attr:`child_fd` to the child (``Popen(pass_fds=...)``), call :meth:`child_started` after
    ``Popen`` (our copy of the child's end would keep the pipe open), and keep the object open for
    as long as the child may run. Both fds are non-inheritable by default, so no other child of
    ours holds the write end and delays the EOF.
    """

    def __init__(self) -> None:
        self.child_fd, self._write_fd = os.pipe()
        self._child_fd_open = True

    def child_started(self) -> None:
        """Close our copy of the child's end (the child has its own)."""
        if self._child_fd_open:
            os.close(self.child_fd)
            self._child_fd_open = False

    def close(self) -> None:
        """Cut the lifeline: a child still watching sees EOF, as if we had died."""
        self.child_started()
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1

    def __enter__(self) -> Lifeline:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
