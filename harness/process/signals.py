"""Signal safety: Ctrl-C and SIGTERM must run the heals, and must not cut a cleanup in half.

Python turns SIGINT into ``KeyboardInterrupt`` but SIGTERM kills the interpreter outright, so
``finally`` blocks (the heals) never run when a CI runner or ``timeout`` stops a run.
``heal_on_interrupt()`` makes both signals raise :class:`Interrupted` in the main thread for the
duration of a run. ``shield_interrupts()`` defers them while a short critical section (starting
a process and recording its pid, stopping a group) completes, then delivers them.

Signal handlers can only be installed from the main thread; elsewhere both helpers do nothing
(signals are delivered to the main thread anyway).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

#: The signals that mean "stop the run now, but clean up first".
HEAL_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

_Handler = Callable[[int, FrameType | None], Any] | int | None


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM as ``KeyboardInterrupt``, so ``finally`` blocks run; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _install(signals: tuple[signal.Signals, ...], handler: _Handler) -> dict[signal.Signals, _Handler]:
    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig in signals:
        signal.signal(sig, handler)
    return previous


def _restore(previous: dict[signal.Signals, _Handler]) -> None:
    for sig, handler in previous.items():
        # None means "installed outside Python": the closest we can restore is the default.
        signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def heal_on_interrupt(signals: tuple[signal.Signals, ...] = HEAL_SIGNALS) -> Iterator[None]:
    """Make ``signals`` raise :class:`Interrupted` in the main thread; restore the old handlers on exit.

    Use it around a whole run so that every ``finally`` (heal a fault, stop the stack) runs on
    Ctrl-C and on SIGTERM alike.
    """
    if not _in_main_thread():
        yield
        return
    previous = _install(signals, _raise_interrupted)
    try:
        yield
    finally:
        _restore(previous)


@contextmanager
def shield_interrupts(signals: tuple[signal.Signals, ...] = HEAL_SIGNALS) -> Iterator[None]:
    """Defer ``signals`` until the block ends, then deliver the first one to the previous handler.

    For short sections that must not be cut in half: between ``Popen`` and recording the pid, or
    while stopping every service of a group after a first Ctrl-C (a second one must not leave
    processes behind). Keep the block bounded: the user waits for it.
    """
    if not _in_main_thread():
        yield
        return
    pending: list[int] = []

    def defer(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous = _install(signals, defer)
    try:
        yield
    finally:
        _restore(previous)
        if pending:
            signal.raise_signal(pending[0])
