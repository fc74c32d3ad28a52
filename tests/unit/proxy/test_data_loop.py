"""The data loop's contract with other threads: calls, failures of one link, closing."""

from __future__ import annotations

import socket
import threading

import pytest

from harness.faults.proxy import loop as loop_module
from harness.faults.proxy.loop import IN, DataLoop

pytestmark = pytest.mark.skipif(not loop_module.available(), reason="the data loop needs epoll")


class Recorder:
    """A loop client that records its events and may fail on them."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.events: list[int] = []
        self.closed = threading.Event()
        self.thread: threading.Thread | None = None

    def on_event(self, fd: int, events: int) -> None:
        self.thread = threading.current_thread()
        self.events.append(events)
        if self.fail:
            raise RuntimeError("a bug in a link")

    def close_now(self) -> None:
        self.closed.set()


def test_call_runs_in_the_loop_thread_and_passes_results_and_errors() -> None:
    loop = DataLoop("test-loop")
    try:
        assert loop.call(lambda: threading.current_thread().name) == "test-loop"

        def fail() -> None:
            raise ValueError("from the loop")

        with pytest.raises(ValueError, match="from the loop"):
            loop.call(fail)
    finally:
        loop.close()


def test_a_failing_link_is_closed_and_the_loop_goes_on() -> None:
    loop = DataLoop("test-loop")
    left, right = socket.socketpair()
    other_left, other_right = socket.socketpair()
    try:
        failing, healthy = Recorder(fail=True), Recorder()
        loop.call(lambda: loop.register(left.fileno(), failing, IN))
        loop.call(lambda: loop.register(other_left.fileno(), healthy, IN))
        right.send(b"x")
        assert failing.closed.wait(10)
        loop.call(lambda: loop.unregister(left.fileno()))
        other_right.send(b"y")
        assert loop.call(lambda: None) is None  # the loop still answers
        for _ in range(100):
            if healthy.events:
                break
            loop.call(lambda: None)
        assert healthy.events and healthy.thread is not None and healthy.thread.name == "test-loop"
    finally:
        loop.close()
        for sock in (left, right, other_left, other_right):
            sock.close()


def test_close_closes_registered_links_and_refuses_later_calls() -> None:
    loop = DataLoop("test-loop")
    left, right = socket.socketpair()
    try:
        link = Recorder()
        loop.call(lambda: loop.register(left.fileno(), link, IN))
        loop.close()
        assert link.closed.is_set()
        assert not loop.call_soon(lambda: None)
        with pytest.raises(RuntimeError, match="closed"):
            loop.call(lambda: None)
        loop.close()  # idempotent
    finally:
        left.close()
        right.close()
