"""Which client exceptions mean "maybe happened" (info) rather than "did not happen" (fail).

A request that timed out or whose connection was reset may have reached the server and been
acted on: recording it as a failure would make a checker call a correct duplicate-free system
wrong (or miss a real duplicate). A refused connection, a DNS error or a 4xx certainly did not
happen. HTTP clients wrap the socket error several layers deep (``requests.ConnectionError`` >
``urllib3.ProtocolError`` > ``ConnectionResetError``), so the whole cause chain is inspected.

requests and httpx are looked up in ``sys.modules`` only: if a client library was never
imported, none of its exceptions can exist, and the history stays cheap to import.
"""

from __future__ import annotations

import http.client
import sys
from collections.abc import Iterator

#: Standard-library exceptions that leave the outcome of a request unknown.
_BUILTIN_MAYBE: tuple[type[BaseException], ...] = (
    TimeoutError,  # also socket.timeout
    ConnectionResetError,  # also http.client.RemoteDisconnected
    ConnectionAbortedError,
    BrokenPipeError,
    http.client.IncompleteRead,
)

#: (module, attribute) of client-library exceptions that leave the outcome unknown.
_LIBRARY_MAYBE = (
    ("requests", "Timeout"),
    ("httpx", "TimeoutException"),
    ("httpx", "RemoteProtocolError"),
    ("httpx", "ReadError"),
    ("httpx", "WriteError"),
)


def causes(exc: BaseException, limit: int = 20) -> Iterator[BaseException]:
    """``exc`` and everything it wraps: ``__cause__``, ``__context__``, exception args, ``.reason``."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < limit:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        todo.extend(w for w in wrapped if isinstance(w, BaseException))


def _library_types() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for module_name, attr in _LIBRARY_MAYBE:
        module = sys.modules.get(module_name)
        candidate = getattr(module, attr, None) if module is not None else None
        if isinstance(candidate, type) and issubclass(candidate, BaseException):
            found.append(candidate)
    return tuple(found)


def default_indeterminate(exc: BaseException) -> bool:
    """True for timeouts and connection resets/aborts of requests, httpx and the standard library."""
    maybe = _BUILTIN_MAYBE + _library_types()
    return any(isinstance(c, maybe) for c in causes(exc))
