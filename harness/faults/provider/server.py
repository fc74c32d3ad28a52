"""The mock provider on a socket, in the foreground (the CLI) or in a background thread (tests).

uvicorn serves the app. Two things are changed from its defaults, both so that a stop is prompt:
the provider answers its held and hanging calls before uvicorn waits for connections to finish
(else one hanging call would keep the process alive forever), and SIGINT/SIGTERM end the process
with exit code 0 instead of re-raising the signal after the graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Iterator
from types import TracebackType

import uvicorn

from harness.errors import ServiceError
from harness.faults.control_token import server_token
from harness.faults.provider.app import build_app
from harness.faults.provider.state import ProviderState

#: seconds uvicorn waits for open connections after the held calls were answered
GRACEFUL_SECONDS = 3


class _Uvicorn(uvicorn.Server):
    """uvicorn with the provider's stop: answer held calls first, exit 0 on a signal."""

    def __init__(self, config: uvicorn.Config, owner: ProviderServer) -> None:
        super().__init__(config)
        self._owner = owner

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._owner._begin_stop)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._owner._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)
        self._owner._started.set()


class ProviderServer:
    """One mock provider bound to ``host:port`` (port 0: a free port, see :attr:`port`).

    The socket is bound in the constructor, so :attr:`url` is known (and connections queue) before
    the server runs, and a port already in use fails here with ``OSError``. ``token``: what the
    control API asks for (None: nothing, allowed on loopback only; a non-loopback ``host`` without
    one is a :class:`~harness.errors.ConfigError`, raised before the socket is bound).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        state: ProviderState | None = None,
        token: str | None = None,
    ) -> None:
        token = server_token(host, token, what="mock provider's control API")
        self.requires_token = token is not None
        self.state = state or ProviderState()
        self._socket = _listen(host, port)
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            build_app(self.state, token=token),
            log_config=None,
            access_log=False,
            lifespan="off",
            http="h11",
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
        )
        self._uvicorn = _Uvicorn(config, self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the provider, e.g. ``http://127.0.0.1:8470``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM (in the main thread) or :meth:`stop`; then return."""
        try:
            self._uvicorn.run(sockets=[self._socket])
        finally:
            self._socket.close()

    def start(self, timeout: float = 10.0) -> ProviderServer:
        """Serve in a daemon thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self.run, name=f"provider-{self.port}", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise ServiceError(
                f"mock provider on {self.url} did not start within {timeout:g} s; "
                "hint: run `chaos-audit provider --log-level info` to see why"
            )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Answer held calls, stop serving and wait for the thread; safe to call twice."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: already stopped
                loop.call_soon_threadsafe(self._begin_stop)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise ServiceError(f"mock provider on {self.url} did not stop within {timeout:g} s")
        self._socket.close()

    def _begin_stop(self) -> None:
        """On the server's loop: a first call stops gracefully, a second one forces the exit."""
        if self._uvicorn.should_exit:
            self._uvicorn.force_exit = True
        self.state.shutdown()
        self._uvicorn.should_exit = True

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket; ``proto=IPPROTO_TCP`` makes asyncio set TCP_NODELAY on each connection.

    (``socket.create_server`` leaves proto 0, and then every answer whose headers and body are
    written separately waits ~40 ms for the client's delayed ACK.)
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock
