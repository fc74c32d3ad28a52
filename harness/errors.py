"""One error hierarchy for the whole harness.

Foreign exceptions (requests, psycopg, OSError, ...) are translated at each boundary with
``raise ... from`` so callers only ever catch these::

    HarnessError                      base of everything the harness raises on purpose
    ├── ConfigError                   bad user input (target file, CLI flag): exit code 2
    ├── ServiceError                  a service could not be started, stopped or signalled
    │   ├── ReadinessTimeout          a readiness wait gave up (message: what was tried + hint)
    │   └── BackendUnavailable        the backend cannot run here (no Docker engine, no image)
    ├── StoreError                    the embedded PostgreSQL failed (initdb, start, template copy)
    ├── FaultError                    a fault could not be injected or healed
    │   └── ProxyError                the fault proxy's API answered an error
    │       ├── ProxyNotFound         404: unknown proxy or toxic
    │       ├── ProxyConflict         409: the proxy or toxic already exists
    │       └── ProxyBadRequest       400: malformed body, invalid toxic, invalid attribute
    ├── ProviderError                 the mock provider's control API failed or timed out
    └── Undecidable                   something the audit needs cannot be observed: ``unknown``
        └── CapabilityMissing         the target file does not offer a call or field (``field``)
            └── ObservationMissing    a named observation the target does not answer

``Undecidable`` is how ``unknown`` travels: raised inside a check, it makes that check unknown (or,
for a capability the target file declares absent, failed with a finding: see ``harness.verdict``);
raised outside every check, the scenario could not run and is ``unknown``. It is never a finding
by itself and never a harness error.

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


class BackendUnavailable(ServiceError):
    """The chosen backend cannot run on this machine (no Docker engine, no image): every scenario
    is ``unknown`` with this reason, never a finding."""


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


class Undecidable(HarnessError):
    """The harness cannot observe what it needs: the check (or scenario) is ``unknown``.

    ``field`` names the contract field in the ``needs`` spelling (``observe.batch_fields.summary``).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CapabilityMissing(Undecidable):
    """The target file does not offer a call or field a scenario needs: the verdict is ``unknown``."""

    def __init__(self, capability: str) -> None:
        message = f"the target does not offer {capability!r} (not in its target file)"
        super().__init__(message, field=capability)
        self.capability = capability


class ObservationMissing(CapabilityMissing):
    """A scenario needs an observation the target does not answer: its verdict is ``unknown``."""

    def __init__(self, field: str, why: str = "not given in its target file") -> None:
        super().__init__(field)
        self.args = (f"the target does not answer {field!r} ({why})",)
        self.why = why
