"""The mock provider's whole state, and the two ways to end the calls in flight: reset and shutdown.

A call in flight captures the current :class:`Epoch` when it arrives. A reset (or a shutdown) ends
that epoch: every call that is held, hanging, delayed or trickling wakes and is cut short, and the
next scenario starts on a fresh epoch, a fresh ledger and no rules or barriers.
"""

from __future__ import annotations

import asyncio

from harness.faults.provider.barriers import BarrierBoard
from harness.faults.provider.ledger import Ledger
from harness.faults.provider.model import ProviderConfig
from harness.faults.provider.rules import RuleBook


class Epoch:
    """The lifetime of one scenario's calls; ``ended`` fires on reset or shutdown."""

    def __init__(self) -> None:
        self.ended = asyncio.Event()
        self.reason: str | None = None

    def end(self, reason: str) -> None:
        """Wake every call of this epoch; ``reason`` ("reset" or "shutdown") goes in their 503 body."""
        if self.reason is None:
            self.reason = reason
        self.ended.set()


class ProviderState:
    """Ledger, rules, barriers and config of one provider server."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.rules = RuleBook()
        self.barriers = BarrierBoard()
        self.config = ProviderConfig()
        self.epoch = Epoch()
        self.closing = False

    def reset(self) -> None:
        """Back to a just-started provider; calls in flight are answered 503 ``{"error": "reset"}``."""
        self.epoch.end("reset")
        self.epoch = Epoch()
        self.ledger.reset()
        self.rules.clear()
        self.barriers.reset()
        self.config = ProviderConfig()

    def shutdown(self) -> None:
        """Answer the calls in flight (503 ``{"error": "shutdown"}``) so the server can stop at once.

        Without this a hanging call would keep its connection, and so the server, alive forever.
        New calls are answered the same way from now on. Idempotent.
        """
        self.closing = True
        self.epoch.end("shutdown")
        self.barriers.reset()
