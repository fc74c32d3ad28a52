"""Typed client of the Toxiproxy HTTP API (this harness's proxy or the official server).

Only documented fields are sent and read, and unknown keys in answers (Toxiproxy's stray
``"Logger":{}``) are ignored, so the same code drives ``chaos-audit proxy`` and the official
``toxiproxy-server`` container. Errors are translated at this boundary: 404 →
:class:`~harness.errors.ProxyNotFound`, 409 → :class:`~harness.errors.ProxyConflict`, 400 →
:class:`~harness.errors.ProxyBadRequest`, anything else (including an unreachable server) →
:class:`~harness.errors.ProxyError`.

The control token (``CHAOS_AUDIT_CONTROL_TOKEN``, or ``token=``) is sent as a bearer header when
there is one; the official Toxiproxy has no auth and ignores the header, so one client fits both.

Faults must heal: :meth:`ProxyClient.toxic` and :meth:`ProxyClient.down` are context managers that
undo themselves in ``finally``, also on Ctrl-C::

    with client.toxic("db", "latency", {"latency": 200}):
        run_workload()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from harness.errors import ProxyBadRequest, ProxyConflict, ProxyError, ProxyNotFound
from harness.faults.control_token import bearer_headers, client_token

DEFAULT_URL = "http://127.0.0.1:8474"
#: (connect, read) seconds; API calls are quick, a hung server must not hang the harness
DEFAULT_TIMEOUT = (3.0, 30.0)

_ERRORS: dict[int, type[ProxyError]] = {400: ProxyBadRequest, 404: ProxyNotFound, 409: ProxyConflict}


@dataclass(frozen=True, kw_only=True)
class Toxic:
    """A toxic as the server reports it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Toxic:
        """Build from an API object, ignoring unknown keys."""
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=str(data.get("stream", "downstream")),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True, kw_only=True)
class Proxy:
    """A proxy as the server reports it; ``listen`` is the bound address while enabled."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proxy:
        """Build from an API object, ignoring unknown keys such as ``Logger``."""
        return cls(
            name=str(data["name"]),
            listen=str(data.get("listen", "")),
            upstream=str(data["upstream"]),
            enabled=bool(data.get("enabled", True)),
            toxics=tuple(Toxic.from_json(toxic) for toxic in data.get("toxics") or ()),
        )

    @property
    def port(self) -> int:
        """Port of ``listen`` (the one clients must connect to)."""
        return int(self.listen.rsplit(":", 1)[1])


def _segment(name: str) -> str:
    return quote(name, safe="")


class ProxyClient:
    """Client of one proxy server's API; reuses one HTTP session (keep-alive).

    ``token``: the control token to send; None (default) reads ``CHAOS_AUDIT_CONTROL_TOKEN``,
    ``""`` sends none.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        token: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "chaos-audit-proxy-client"
        self._session.headers.update(bearer_headers(client_token(token)))

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def __enter__(self) -> ProxyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: object = None, *, expect_json: bool = True) -> Any:
        try:
            answer = self._session.request(
                method, self.url + path, json=body if body is not None else None, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ProxyError(f"proxy API {method} {path} failed: {exc}") from exc
        if answer.status_code >= 300:
            raise self._error(method, path, answer)
        if not expect_json or answer.status_code == 204 or not answer.content:
            return None
        try:
            return answer.json()
        except ValueError as exc:
            raise ProxyError(
                f"proxy API {method} {path}: invalid JSON answer", status=answer.status_code
            ) from exc

    @staticmethod
    def _error(method: str, path: str, answer: requests.Response) -> ProxyError:
        try:
            message = str(answer.json()["error"])
        except (ValueError, KeyError, TypeError):
            message = answer.text.strip() or answer.reason
        error_class = _ERRORS.get(answer.status_code, ProxyError)
        return error_class(f"{method} {path}: {answer.status_code} {message}", status=answer.status_code)

    # -- server --------------------------------------------------------------------------------

    def version(self) -> str:
        """The server's version string (``"git"`` for Toxiproxy dev builds)."""
        return str(self._call("GET", "/version")["version"])

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset", expect_json=False)

    # -- proxies -------------------------------------------------------------------------------

    def proxies(self) -> dict[str, Proxy]:
        """All proxies by name."""
        data = self._call("GET", "/proxies")
        return {name: Proxy.from_json(proxy) for name, proxy in (data or {}).items()}

    def create_proxy(self, name: str, listen: str, upstream: str, *, enabled: bool = True) -> Proxy:
        """Create a proxy; ``listen`` ``127.0.0.1:0`` picks a free port (read it from ``.listen``)."""
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return Proxy.from_json(self._call("POST", "/proxies", body))

    def get_proxy(self, name: str) -> Proxy:
        """One proxy; :class:`~harness.errors.ProxyNotFound` if unknown."""
        return Proxy.from_json(self._call("GET", f"/proxies/{_segment(name)}"))

    def update_proxy(
        self,
        name: str,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
    ) -> Proxy:
        """Change some fields (PATCH); a listen/upstream change drops live connections."""
        body = {
            key: value
            for key, value in (("listen", listen), ("upstream", upstream), ("enabled", enabled))
            if value is not None
        }
        return Proxy.from_json(self._call("PATCH", f"/proxies/{_segment(name)}", body))

    def enable(self, name: str) -> Proxy:
        """Start listening again (same address)."""
        return self.update_proxy(name, enabled=True)

    def disable(self, name: str) -> Proxy:
        """Stop listening and drop every live connection (the "down" fault)."""
        return self.update_proxy(name, enabled=False)

    def delete_proxy(self, name: str) -> None:
        """Delete a proxy (its connections are closed)."""
        self._call("DELETE", f"/proxies/{_segment(name)}", expect_json=False)

    def populate(self, proxies: Iterable[Mapping[str, Any] | Proxy]) -> list[Proxy]:
        """Create or replace several proxies at once (server-side ``POST /populate``)."""
        body = []
        for item in proxies:
            if isinstance(item, Proxy):
                item = {
                    "name": item.name,
                    "listen": item.listen,
                    "upstream": item.upstream,
                    "enabled": item.enabled,
                }
            body.append(dict(item))
        data = self._call("POST", "/populate", body)
        return [Proxy.from_json(proxy) for proxy in (data or {}).get("proxies") or ()]

    # -- toxics --------------------------------------------------------------------------------

    def toxics(self, proxy: str) -> list[Toxic]:
        """The toxics of ``proxy`` (upstream first, each stream in creation order)."""
        return [Toxic.from_json(toxic) for toxic in self._call("GET", f"/proxies/{_segment(proxy)}/toxics")]

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> Toxic:
        """Add a toxic; it applies to live connections before this returns."""
        body: dict[str, Any] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        if name is not None:
            body["name"] = name
        return Toxic.from_json(self._call("POST", f"/proxies/{_segment(proxy)}/toxics", body))

    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        toxicity: float | None = None,
    ) -> Toxic:
        """Change attributes (merged into the current ones) and/or toxicity (PATCH)."""
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = dict(attributes)
        if toxicity is not None:
            body["toxicity"] = toxicity
        path = f"/proxies/{_segment(proxy)}/toxics/{_segment(name)}"
        return Toxic.from_json(self._call("PATCH", path, body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic (heal); data it held back is delivered, not lost."""
        self._call("DELETE", f"/proxies/{_segment(proxy)}/toxics/{_segment(name)}", expect_json=False)

    @contextlib.contextmanager
    def toxic(
        self,
        proxy: str,
        type: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> Iterator[Toxic]:
        """Add a toxic for the duration of a ``with`` block; it is removed in ``finally`` (heal)."""
        added = self.add_toxic(proxy, type, attributes, stream=stream, toxicity=toxicity, name=name)
        try:
            yield added
        finally:
            with contextlib.suppress(ProxyNotFound):
                self.remove_toxic(proxy, added.name)

    @contextlib.contextmanager
    def down(self, proxy: str) -> Iterator[Proxy]:
        """Disable ``proxy`` for the duration of a ``with`` block; re-enabled in ``finally``."""
        disabled = self.disable(proxy)
        try:
            yield disabled
        finally:
            self.enable(proxy)
