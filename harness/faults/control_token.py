"""Who may drive the fault proxy and the mock provider: the shared control token.

Both servers' control APIs switch outages on and off (a toxic, a disabled proxy, a hanging
provider). Left running in a shared staging environment they must not be an open switch, so:

* on loopback (the default bind) they stay open, unless ``CHAOS_AUDIT_CONTROL_TOKEN`` is set, in
  which case it is enforced there too (opt-in);
* on any other address they refuse to start without that variable, because anyone on the network
  could otherwise take the staging stack down;
* a request must carry ``Authorization: Bearer <token>``; the value is compared in constant time
  (``hmac.compare_digest``) so the answer's timing does not leak how much of a guess was right.

The token is read from the environment rather than a flag because a flag shows in ``ps`` and in
shell history. It is never logged or printed, not even a wrong one a client sent (a near miss is
almost the secret). This module imports nothing heavy: the proxy process must stay quick to start.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping

from harness.errors import ConfigError

#: the environment variable holding the control token, read by the servers and the clients
TOKEN_ENV = "CHAOS_AUDIT_CONTROL_TOKEN"
#: what a 401 answer says; it names the variable, never its value
UNAUTHORIZED_MESSAGE = (
    f"missing or wrong control token: send 'Authorization: Bearer <token>' with the value of {TOKEN_ENV}"
)
#: RFC 6750 asks a 401 to say which scheme it wants
WWW_AUTHENTICATE = 'Bearer realm="chaos-audit control API"'


def token_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The token in ``CHAOS_AUDIT_CONTROL_TOKEN``; an empty value counts as unset (it guards nothing)."""
    value = (os.environ if environ is None else environ).get(TOKEN_ENV, "")
    return value or None


def client_token(token: str | None = None) -> str | None:
    """What a client sends: ``token`` if given (``""`` = send none), else the environment's."""
    if token is None:
        return token_from_env()
    return token or None


def bearer_headers(token: str | None) -> dict[str, str]:
    """The ``Authorization`` header for ``token``; no header at all without one.

    Sending it to a server that has no auth (the official Toxiproxy, an open loopback server) is
    harmless: such servers ignore the header.
    """
    return {"Authorization": f"Bearer {token}"} if token else {}


def control_headers() -> dict[str, str]:
    """The headers a harness probe of a control API sends (the environment's token, if any)."""
    return bearer_headers(client_token())


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; any other name or address is not.

    A host name other than ``localhost`` is treated as non-loopback without resolving it: a name
    can point anywhere, and guessing wrong here would open the switch to the network.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # "" (every interface), a host name
        return False


def server_token(host: str, token: str | None, *, what: str) -> str | None:
    """Validate the token a server bound to ``host`` will enforce; ``ConfigError`` if it cannot run.

    Called before the socket is bound, so a refused start never listens, not even for a moment.
    """
    if token is not None and not token:
        token = None
    if token is None:
        if is_loopback(host):
            return None
        raise ConfigError(
            f"refusing to serve the {what} on {host or 'every interface'} (not loopback) without a "
            f"control token: set {TOKEN_ENV} to a long random secret (e.g. `openssl rand -hex 32`) "
            "and give the same value to its clients, or bind 127.0.0.1",
            field=TOKEN_ENV,
        )
    if not all("!" <= char <= "~" for char in token):  # must travel unchanged in an HTTP header
        raise ConfigError(
            f"{TOKEN_ENV} must be printable ASCII without spaces (e.g. `openssl rand -hex 32`)",
            field=TOKEN_ENV,
        )
    return token


def authorized(header: str | None, token: str) -> bool:
    """True when an ``Authorization`` header value is ``Bearer <token>`` (scheme case-insensitive)."""
    scheme, _, presented = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode("utf-8"), token.encode("utf-8"))
