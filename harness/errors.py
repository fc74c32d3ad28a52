"""One error hierarchy for the whole harness.

Foreign exceptions (requests, psycopg, OSError, ...) are translated at each boundary with
``raise ... from`` so callers only ever catch these::

    HarnessError                      base of everything the harness raises on purpose
    ├── ConfigError                   bad user input (target file, CLI flag): exit code 2
    ├── ServiceError                  a service could not be started, stopped or signalled
    │   └── ReadinessTimeout          a readiness wait gave up (message: what was tried + hint)
    ├── StoreError                    the embedded PostgreSQL failed (initdb, start, template copy)
    ├── FaultError                    a fault could not be injected or healed
    │   └── ProxyError                the fault proxy's API answered an error
    │       ├── ProxyNotFound         404: unknown proxy or toxic
    │       ├── ProxyConflict         409: the proxy or toxic already exists
    │       └── ProxyBadRequest       400: malformed body, invalid toxic, invalid attribute
    └── ProviderError                 the mock provider's control API failed or timed out

A checker never raises for a violation: violations are data (see ``harness.checkers``).
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class ConfigError(HarnessError):
    """Invalid user input; ``field`` names the offending setting (CLI exit code 2)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ServiceError(HarnessError):
    """A service could not be started, signalled or stopped."""


class ReadinessTimeout(ServiceError):
    """A readiness wait gave up; the message says what was tried and ends with a hint."""


class StoreError(HarnessError):
    """The embedded PostgreSQL could not be initialised, started or copied."""


class FaultError(HarnessError):
    """A fault could not be injected or healed."""


class ProxyError(FaultError):
    """The fault proxy's HTTP API answered with an error status."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProxyNotFound(ProxyError):
    """404 from the proxy API: unknown proxy or toxic."""


class ProxyConflict(ProxyError):
    """409 from the proxy API: the proxy or toxic already exists."""


class ProxyBadRequest(ProxyError):
    """400 from the proxy API: malformed body or invalid toxic/attribute."""


class ProviderError(HarnessError):
    """The mock provider's control API failed, refused, or timed out."""
