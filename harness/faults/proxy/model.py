"""A proxy: its addresses, its listener, its toxic chains and its live connections.

Every change of the chains is applied to all live connections *before the method returns*
, so an API call that added a toxic can be followed at once by traffic that must see
it. The proxy lock orders chain changes with connection setup: a new connection either copies
the chains under the lock or receives the change afterwards, never neither.

A connection starts on the data loop (:class:`~harness.faults.proxy.looplink.LoopLink`) when the
proxy has no toxic, else on threads (:class:`~harness.faults.proxy.link.Connection`); both take
the same chain changes. The set of live connections has its own small lock, because the data loop
removes closed connections from it while an API call may hold the proxy lock and wait for the
loop (a hand-over, see :mod:`.looplink`).
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
from dataclasses import dataclass

from harness.faults.proxy.addr import bind_listener
from harness.faults.proxy.link import Connection, make_stage
from harness.faults.proxy.listener import Listener, dial
from harness.faults.proxy.loop import DataLoop
from harness.faults.proxy.looplink import LoopLink
from harness.faults.proxy.stages import Dice
from harness.faults.proxy.threads import ThreadPool
from harness.faults.proxy.toxics import Attributes, Direction, Toxic

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """What all proxies of one server share: the seeded dice, the data loop and thread pool."""

    dice: Dice
    pool: ThreadPool
    loop: DataLoop | None  #: None where epoll is missing: every connection then runs on threads


class Proxy:
    """A named proxy ``listen`` → ``upstream`` (mutable server state, guarded by its lock)."""

    def __init__(self, *, name: str, listen: str, upstream: str, runtime: Runtime) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self._runtime = runtime
        self._lock = threading.RLock()
        self._chains: dict[Direction, list[Toxic]] = {Direction.UPSTREAM: [], Direction.DOWNSTREAM: []}
        self._orders = itertools.count(1)
        self._listener: Listener | None = None
        self._connections: set[Connection | LoopLink] = set()
        self._connections_lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Bind ``listen`` and accept clients; ``listen`` becomes the bound address.

        Raises :class:`~harness.faults.proxy.addr.AddressError` (Go's text) when binding fails.
        """
        with self._lock:
            if self.enabled:
                return
            sock, bound = bind_listener(self.listen)
            self.listen = bound
            self._listener = Listener(sock, self._on_client, name=self.name)
            self.enabled = True
            self._listener.start()
        log.info("proxy %s listening on %s → %s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        """Close the listener and every live connection (client and upstream side)."""
        with self._lock:
            listener, self._listener = self._listener, None
            self.enabled = False
            connections = self.live_connections()
        if listener is not None:
            listener.stop()
        for conn in connections:
            conn.abort()

    def connection_count(self) -> int:
        """Number of live proxied connections (for tests and logs)."""
        with self._connections_lock:
            return len(self._connections)

    def live_connections(self) -> list[Connection | LoopLink]:
        """The live proxied connections, a snapshot (for the proxy's own loops over them, and tests)."""
        with self._connections_lock:
            return list(self._connections)

    def _on_client(self, client: socket.socket) -> None:
        listener = self._listener
        try:
            upstream = dial(self.upstream)
        except (OSError, ValueError) as exc:
            log.warning("proxy %s: upstream %s unreachable: %s", self.name, self.upstream, exc)
            client.close()
            return
        with self._lock:
            if self._listener is not listener or listener is None:
                client.close()
                upstream.close()
                return
            runtime = self._runtime
            conn: Connection | LoopLink
            if runtime.loop is not None and not any(self._chains.values()):
                conn = LoopLink(
                    client=client,
                    upstream=upstream,
                    loop=runtime.loop,
                    dice=runtime.dice,
                    pool=runtime.pool,
                    on_closed=self._forget,
                )
            else:
                conn = Connection(
                    client=client,
                    upstream=upstream,
                    chains={direction: list(chain) for direction, chain in self._chains.items()},
                    dice=runtime.dice,
                    pool=runtime.pool,
                    on_closed=self._forget,
                )
            with self._connections_lock:
                self._connections.add(conn)
            conn.start()

    def _forget(self, conn: Connection | LoopLink) -> None:
        with self._connections_lock:
            self._connections.discard(conn)

    # -- toxics --------------------------------------------------------------------------------

    def toxics(self) -> list[Toxic]:
        """All toxics: upstream ones first, then downstream, each in creation order."""
        with self._lock:
            return [*self._chains[Direction.UPSTREAM], *self._chains[Direction.DOWNSTREAM]]

    def find_toxic(self, name: str) -> Toxic | None:
        """The toxic called ``name`` in either stream, if any."""
        return next((toxic for toxic in self.toxics() if toxic.name == name), None)

    def add_toxic(self, toxic: Toxic) -> None:
        """Append ``toxic`` to its chain and install it on every live connection."""
        with self._lock:
            toxic.order = next(self._orders)
            self._chains[toxic.direction].append(toxic)
            for conn in self.live_connections():
                conn.add_stage(toxic.direction, make_stage(toxic))

    def update_toxic(self, toxic: Toxic, *, attributes: Attributes, toxicity: float) -> None:
        """Store new attributes/toxicity and restart the toxic on every live connection."""
        with self._lock:
            toxic.attributes = attributes
            toxic.toxicity = toxicity
            for conn in self.live_connections():
                conn.update_stage(toxic.direction, toxic)

    def remove_toxic(self, toxic: Toxic) -> None:
        """Remove ``toxic`` everywhere; removing a ``timeout`` closes the connections that had it."""
        with self._lock:
            self._chains[toxic.direction].remove(toxic)
            connections = self.live_connections()
            for conn in connections:
                conn.remove_stage(toxic.direction, toxic)
        if toxic.type.name == "timeout":
            for conn in connections:
                conn.abort()

    def remove_all_toxics(self) -> None:
        """Remove every toxic (``/reset``), with the same effects as deleting each one."""
        for toxic in self.toxics():
            self.remove_toxic(toxic)

    def to_json(self) -> dict[str, object]:
        """The API shape, in Go's field order, including the stray ``Logger`` key."""
        with self._lock:
            return {
                "name": self.name,
                "listen": self.listen,
                "upstream": self.upstream,
                "enabled": self.enabled,
                "Logger": {},
                "toxics": [toxic.to_json() for toxic in self.toxics()],
            }
