"""The set of proxies and the API-level operations on it, with Toxiproxy's order of checks.

Each method follows the processing order of Toxiproxy (e.g. a proxy lookup fails with 404 before a
body is looked at) and raises :class:`ApiError` carrying the status and the exact message a
Toxiproxy client expects. One lock serialises every mutation, like Toxiproxy's collection lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from harness.faults.proxy.addr import AddressError, resolve_string
from harness.faults.proxy.gojson import DecodeError
from harness.faults.proxy.model import Proxy, Runtime
from harness.faults.proxy.toxics import (
    TOXIC_TYPES,
    Attributes,
    Toxic,
    decode_attributes,
    parse_direction,
    validate,
)


class ApiError(Exception):
    """An API failure: HTTP ``status`` and the message of the error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


PROXY_NOT_FOUND = (404, "proxy not found")
TOXIC_NOT_FOUND = (404, "toxic not found")


@dataclass(frozen=True, kw_only=True)
class ProxySpec:
    """A decoded proxy body (POST /proxies, /populate entries)."""

    name: str
    listen: str
    upstream: str
    enabled: bool


@dataclass(frozen=True, kw_only=True)
class ToxicSpec:
    """A decoded toxic body (POST /proxies/{proxy}/toxics) before type-specific attributes."""

    name: str | None
    type: str
    stream: str
    toxicity: float


class ProxyCollection:
    """All proxies of one server, by name."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.lock = threading.RLock()
        self._proxies: dict[str, Proxy] = {}

    def all(self) -> list[Proxy]:
        """Every proxy, sorted by name (Go sorts map keys when encoding)."""
        with self.lock:
            return [self._proxies[name] for name in sorted(self._proxies)]

    def get(self, name: str) -> Proxy:
        """The proxy called ``name``; ``404 proxy not found`` otherwise."""
        with self.lock:
            proxy = self._proxies.get(name)
        if proxy is None:
            raise ApiError(*PROXY_NOT_FOUND)
        return proxy

    def create(self, spec: ProxySpec) -> Proxy:
        """POST /proxies: validate, refuse duplicates, bind if enabled (500 on a listen error)."""
        if not spec.name:
            raise ApiError(400, "missing required field: name")
        if not spec.upstream:
            raise ApiError(400, "missing required field: upstream")
        with self.lock:
            if spec.name in self._proxies:
                raise ApiError(409, "proxy already exists")
            proxy = self._new_proxy(spec)
            self._proxies[spec.name] = proxy
            return proxy

    def _new_proxy(self, spec: ProxySpec) -> Proxy:
        proxy = Proxy(name=spec.name, listen=spec.listen, upstream=spec.upstream, runtime=self.runtime)
        if spec.enabled:
            try:
                proxy.start()
            except AddressError as exc:
                raise ApiError(500, str(exc)) from None
        return proxy

    def populate(self, specs: list[ProxySpec]) -> tuple[list[Proxy], ApiError | None]:
        """POST /populate: validate all, then keep / replace / create each entry in turn ."""
        for number, spec in enumerate(specs, start=1):
            if not spec.name:
                return [], ApiError(400, f"missing required field: name at proxy {number}")
            if not spec.upstream:
                return [], ApiError(400, f"missing required field: upstream at proxy {number}")
        done: list[Proxy] = []
        with self.lock:
            for spec in specs:
                try:
                    done.append(self._add_or_replace(spec))
                except ApiError as exc:
                    return done, exc
        return done, None

    def _add_or_replace(self, spec: ProxySpec) -> Proxy:
        existing = self._proxies.get(spec.name)
        if existing is not None:
            try:
                same_listen = existing.listen == resolve_string(spec.listen)
            except AddressError as exc:
                raise ApiError(500, str(exc)) from None
            if same_listen and existing.upstream == spec.upstream:
                return existing
            existing.stop()
            del self._proxies[spec.name]
        proxy = self._new_proxy(spec)
        self._proxies[spec.name] = proxy
        return proxy

    def update(self, proxy: Proxy, *, listen: str | None, upstream: str | None, enabled: bool | None) -> None:
        """PATCH /proxies/{proxy}: restart on a listen/upstream change, then apply ``enabled`` ."""
        with self.lock:
            new_listen = proxy.listen if listen is None else listen
            new_upstream = proxy.upstream if upstream is None else upstream
            want_enabled = proxy.enabled if enabled is None else enabled
            try:
                resolved = resolve_string(new_listen)
            except AddressError as exc:
                raise ApiError(500, str(exc)) from None
            try:
                current = resolve_string(proxy.listen)
            except AddressError:
                current = proxy.listen
            if resolved != current or new_upstream != proxy.upstream:
                proxy.stop()
                proxy.listen, proxy.upstream = new_listen, new_upstream
            if want_enabled and not proxy.enabled:
                self._start(proxy)
            elif not want_enabled and proxy.enabled:
                proxy.stop()

    @staticmethod
    def _start(proxy: Proxy) -> None:
        try:
            proxy.start()
        except AddressError as exc:
            raise ApiError(500, str(exc)) from None

    def delete(self, name: str) -> None:
        """DELETE /proxies/{proxy}: stop it (connections closed) and forget it."""
        with self.lock:
            proxy = self.get(name)
            proxy.stop()
            del self._proxies[name]

    def reset(self) -> None:
        """POST /reset: enable every proxy and remove all toxics; a bind error aborts (500)."""
        with self.lock:
            for proxy in self.all():
                if not proxy.enabled:
                    self._start(proxy)
                proxy.remove_all_toxics()

    def stop_all(self) -> None:
        """Stop every proxy (server shutdown); proxies stay registered."""
        with self.lock:
            for proxy in self.all():
                proxy.stop()

    # -- toxics --------------------------------------------------------------------------------

    def add_toxic(self, proxy: Proxy, spec: ToxicSpec, raw_attributes: object) -> Toxic:
        """POST /proxies/{proxy}/toxics after the wrapper was decoded."""
        direction = parse_direction(spec.stream)
        if direction is None:
            raise ApiError(400, "stream was invalid, can be either upstream or downstream")
        name = spec.name or f"{spec.type}_{spec.stream}"
        toxic_type = TOXIC_TYPES.get(spec.type)
        if toxic_type is None:
            raise ApiError(400, "invalid toxic type")
        with self.lock:
            if proxy.find_toxic(name) is not None:
                raise ApiError(409, "toxic already exists")
            try:
                attributes = decode_attributes(toxic_type, raw_attributes, dict(toxic_type.defaults))
            except DecodeError as exc:
                raise ApiError(400, f"bad request body: {exc}") from None
            self._check(toxic_type.name, attributes)
            if toxic_type.upstream_only and direction.value != "upstream":
                raise ApiError(400, f"invalid {toxic_type.name} toxic: it only works on the upstream stream")
            toxic = Toxic(
                name=name,
                type=toxic_type,
                stream=spec.stream,
                direction=direction,
                toxicity=spec.toxicity,
                attributes=attributes,
            )
            proxy.add_toxic(toxic)
            return toxic

    @staticmethod
    def _check(type_name: str, attributes: Attributes) -> None:
        reason = validate(TOXIC_TYPES[type_name], attributes)
        if reason is not None:
            raise ApiError(400, reason)

    def update_toxic(self, proxy: Proxy, toxic: Toxic, attributes: Attributes, toxicity: float) -> None:
        """PATCH /proxies/{proxy}/toxics/{toxic} with already merged attributes."""
        with self.lock:
            self._check(toxic.type.name, attributes)
            proxy.update_toxic(toxic, attributes=attributes, toxicity=toxicity)

    @staticmethod
    def find_toxic(proxy: Proxy, name: str) -> Toxic:
        """The toxic ``name`` of ``proxy``; ``404 toxic not found`` otherwise."""
        toxic = proxy.find_toxic(name)
        if toxic is None:
            raise ApiError(*TOXIC_NOT_FOUND)
        return toxic
