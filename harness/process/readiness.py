"""Readiness as wait strategies (testcontainers style): probe until the service answers, or say why not.

A strategy is one cheap, bounded probe (``check``) plus a description of what it tries; it returns
``None`` when ready and otherwise one short reason ("connection refused", "status 503"). The
polling loop, the deadline, the fail-fast on a dead process and the error message live once in
``wait_until``, so a timeout always reads the same way::

    api not ready: GET http://127.0.0.1:8001/health: 20 attempts over 5.0 s, last: connection refused;
    hint: read the service log at /tmp/.../api.log (last lines: ...)
"""

from __future__ import annotations

import http.client
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from harness.errors import ReadinessTimeout, ServiceError
from harness.process.logs import log_hint, read_log

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_INTERVAL_S = 0.05
#: The first polls come quickly (a local service is often up within tens of milliseconds).
FIRST_INTERVAL_S = 0.005


@dataclass(frozen=True, kw_only=True)
class ReadinessContext:
    """What a probe may need from the service it waits for: its log and where this run's output starts."""

    log_path: Path | None = None
    log_offset: int = 0


class WaitStrategy(Protocol):
    """One way to tell that a service is ready; ``wait_until`` does the polling."""

    def describe(self) -> str:
        """What is tried, for the timeout message (e.g. ``GET http://127.0.0.1:8001/health``)."""
        ...

    def check(self, context: ReadinessContext) -> str | None:
        """One bounded probe: ``None`` if ready, else a one-line reason (the message's ``last:``)."""
        ...


def describe_error(exc: BaseException) -> str:
    """A short human reason for a failed probe (``connection refused`` rather than a repr)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@dataclass(frozen=True)
class HttpReady:
    """Ready when ``method url`` answers ``expect_status`` (a status or a predicate on it), e.g. /health.

    ``headers`` go with each probe (e.g. the control token of a guarded API); kept out of the repr
    so a logged strategy never shows a secret.
    """

    url: str
    _: KW_ONLY
    expect_status: int | Callable[[int], bool] = 200
    expect_body: Callable[[str], bool] | None = None
    method: str = "GET"
    attempt_timeout: float = 1.0
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def describe(self) -> str:
        return f"{self.method} {self.url}"

    def check(self, context: ReadinessContext) -> str | None:
        parts = urlsplit(self.url)
        conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_type(parts.hostname or "127.0.0.1", parts.port, timeout=self.attempt_timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(self.method, path, headers={**self.headers, "Connection": "close"})
            response = conn.getresponse()
            body = response.read(64 * 1024).decode(errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            return describe_error(exc)
        finally:
            conn.close()
        expected = self.expect_status
        if not (expected(response.status) if callable(expected) else response.status == expected):
            want = "" if callable(expected) else f" (expected {expected})"
            return f"status {response.status}{want}"
        if self.expect_body is not None and not self.expect_body(body):
            return f"status {response.status} but the body did not match: {body[:80]!r}"
        return None


@dataclass(frozen=True)
class PortReady:
    """Ready when a TCP connection to ``host:port`` is accepted (a listener exists; says nothing more)."""

    host: str
    port: int
    _: KW_ONLY
    attempt_timeout: float = 1.0

    def describe(self) -> str:
        return f"TCP connect to {self.host}:{self.port}"

    def check(self, context: ReadinessContext) -> str | None:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.attempt_timeout):
                return None
        except OSError as exc:
            return describe_error(exc)


_DSN_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@|(password\s*=\s*)\S+", re.IGNORECASE)


def redact_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ``***``, fit for messages and reports."""
    return _DSN_PASSWORD.sub(lambda m: f"{m.group(1)}***@" if m.group(1) else f"{m.group(2)}***", dsn)


@dataclass(frozen=True)
class SqlReady:
    """Ready when a fresh connection to ``dsn`` runs ``query`` (the server accepts real work)."""

    dsn: str
    query: str = "SELECT 1"
    _: KW_ONLY
    attempt_timeout: float = 2.0

    def describe(self) -> str:
        return f"{self.query} on {redact_dsn(self.dsn)}"

    def check(self, context: ReadinessContext) -> str | None:
        import psycopg  # lazily: most services are not databases

        timeout = max(1, round(self.attempt_timeout))
        try:
            with psycopg.connect(self.dsn, connect_timeout=timeout, autocommit=True) as conn:
                conn.execute(self.query.encode())  # bytes: a query given at run time
        except psycopg.Error as exc:
            return describe_error(exc)
        return None


@dataclass(frozen=True)
class LogReady:
    """Ready when this run of the service logged a line matching ``pattern`` (e.g. "Uvicorn running").

    Only output written since the service's current start counts, so an appended log from an
    earlier run cannot make a restart look ready. ``path`` overrides the service's own log.
    """

    pattern: str | re.Pattern[str]
    _: KW_ONLY
    path: Path | None = None
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", re.compile(self.pattern))

    def describe(self) -> str:
        return f"a log line matching {self._regex.pattern!r}"

    def check(self, context: ReadinessContext) -> str | None:
        path = self.path or context.log_path
        if path is None:
            return "no log file to read"
        offset = context.log_offset if self.path is None else 0
        text = read_log(path, offset)
        if self._regex.search(text):
            return None
        return f"no match yet in {path} ({len(text.encode())} bytes since start)"


class AllOf:
    """Ready when every strategy is ready in the same attempt (e.g. port open and log line seen)."""

    def __init__(self, *strategies: WaitStrategy) -> None:
        if not strategies:
            raise ValueError("AllOf needs at least one strategy")
        self.strategies = strategies

    def describe(self) -> str:
        return "all of [" + ", ".join(s.describe() for s in self.strategies) + "]"

    def check(self, context: ReadinessContext) -> str | None:
        for strategy in self.strategies:
            reason = strategy.check(context)
            if reason is not None:
                return f"{strategy.describe()}: {reason}"
        return None


def wait_until(
    strategy: WaitStrategy,
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = DEFAULT_INTERVAL_S,
    *,
    name: str = "service",
    context: ReadinessContext | None = None,
    exited: Callable[[], int | None] | None = None,
) -> float:
    """Poll ``strategy`` until ready; return the seconds it took.

    ``exited`` (returns the exit code once the process is gone) makes the wait fail fast with a
    :class:`ServiceError` instead of polling a dead service until the deadline. On timeout raises
    :class:`ReadinessTimeout` saying what was tried, how often, the last reason, and a log hint.
    The first polls come fast and slow down to ``interval``; one probe may overrun the deadline by
    its own ``attempt_timeout`` (a paused server accepts connections but never answers).
    """
    ctx = context or ReadinessContext()
    started = time.monotonic()
    deadline = started + timeout
    attempts, last, pause = 0, "not tried", min(FIRST_INTERVAL_S, interval)
    while True:
        _fail_if_exited(exited, name, strategy, ctx)
        attempts += 1
        try:
            reason = strategy.check(ctx)
        except Exception as exc:  # a probe's bug must not hide what the service did
            reason = describe_error(exc)
        now = time.monotonic()
        if reason is None:
            return now - started
        last = reason
        if now >= deadline:
            break
        time.sleep(min(pause, deadline - now))
        pause = min(pause * 2, interval)
    _fail_if_exited(exited, name, strategy, ctx)
    elapsed = time.monotonic() - started
    raise ReadinessTimeout(
        f"{name} not ready: {strategy.describe()}: {attempts} attempt{'s' if attempts != 1 else ''} "
        f"over {elapsed:.1f} s, last: {last}; {log_hint(ctx.log_path, since_offset=ctx.log_offset)}"
    )


def _fail_if_exited(
    exited: Callable[[], int | None] | None, name: str, strategy: WaitStrategy, ctx: ReadinessContext
) -> None:
    code = exited() if exited is not None else None
    if code is not None:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise ServiceError(
            f"{name} {how} while waiting for {strategy.describe()}; "
            f"{log_hint(ctx.log_path, since_offset=ctx.log_offset)}"
        )
