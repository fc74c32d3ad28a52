"""The reference target's watchdog: one thread breaks every guarded block that overran."""

from __future__ import annotations

import threading
import time

from reftarget.watchdog import guard


def test_a_block_that_overruns_gets_its_action_once() -> None:
    fired: list[float] = []
    done = threading.Event()
    start = time.monotonic()
    with guard(0.05, lambda: (fired.append(time.monotonic() - start), done.set())):
        assert done.wait(timeout=10), "the watchdog never fired"
        time.sleep(0.1)  # still inside the block: it must not fire a second time
    assert len(fired) == 1 and fired[0] >= 0.05


def test_a_block_that_ends_in_time_is_never_broken() -> None:
    fired: list[str] = []
    for _ in range(200):
        with guard(0.2, lambda: fired.append("fired")):
            pass
    time.sleep(0.3)  # past every deadline: all were disarmed
    assert fired == []


def test_a_shorter_deadline_armed_after_a_longer_one_fires_first() -> None:
    """The thread sleeps until the nearest deadline: a new, nearer one must wake it."""
    order: list[str] = []
    short_fired = threading.Event()
    with (
        guard(30, lambda: order.append("long")),
        guard(0.05, lambda: (order.append("short"), short_fired.set())),
    ):
        assert short_fired.wait(timeout=10), "the nearer deadline was slept through"
    assert order == ["short"]


def test_blocks_of_many_threads_are_guarded_independently() -> None:
    fired: list[int] = []
    lock = threading.Lock()

    def block(n: int) -> None:
        overrun = n % 2 == 0
        with guard(0.05 if overrun else 5, lambda: _add(lock, fired, n)):
            if overrun:
                deadline = time.monotonic() + 10
                while n not in fired and time.monotonic() < deadline:
                    time.sleep(0.005)

    threads = [threading.Thread(target=block, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(fired) == [0, 2, 4, 6]


def _add(lock: threading.Lock, fired: list[int], n: int) -> None:
    with lock:
        fired.append(n)
