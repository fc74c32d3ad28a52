"""heal_on_interrupt turns SIGTERM/SIGINT into KeyboardInterrupt; shield_interrupts defers them."""

from __future__ import annotations

import signal
import threading

import pytest

from harness.process.signals import Interrupted, heal_on_interrupt, shield_interrupts


def test_sigterm_raises_interrupted_and_the_old_handlers_come_back() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    healed = []
    with pytest.raises(KeyboardInterrupt) as info, heal_on_interrupt():
        try:
            signal.raise_signal(signal.SIGTERM)
        finally:
            healed.append(True)
    assert isinstance(info.value, Interrupted) and info.value.signum == signal.SIGTERM
    assert healed == [True]
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_a_shielded_section_completes_and_the_signal_is_delivered_after_it() -> None:
    steps: list[str] = []
    with pytest.raises(Interrupted) as info, heal_on_interrupt():
        with shield_interrupts():
            signal.raise_signal(signal.SIGINT)
            steps.append("cleanup finished")
        steps.append("not reached")
    assert steps == ["cleanup finished"]
    assert info.value.signum == signal.SIGINT


def test_both_helpers_are_no_ops_outside_the_main_thread() -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with heal_on_interrupt(), shield_interrupts():
                pass
        except BaseException as exc:
            errors.append(exc)

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors == []
    assert signal.getsignal(signal.SIGTERM) == before
