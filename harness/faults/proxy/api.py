"""The Toxiproxy HTTP API (Toxiproxy-3): routing, body decoding, success and error shapes.

Routing mirrors gorilla/mux as Toxiproxy configures it: paths are matched after URL-decoding,
unclean paths are redirected (301), an unknown path is a plain-text ``404 page not found``, a known
path with the wrong method an empty ``405``. Only matched routes get the request id header and
the browser block (a ``User-Agent`` starting with ``Mozilla/`` is refused with 403, to stop web
pages from driving the proxy through a user's browser).
"""

from __future__ import annotations

import base64
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from harness import __version__
from harness.faults.proxy import gojson
from harness.faults.proxy.collection import ApiError, ProxyCollection, ProxySpec, ToxicSpec
from harness.faults.proxy.gojson import DecodeError, Obj
from harness.faults.proxy.toxics import decode_attributes

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
POPULATE_TYPE = '[]struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'


@dataclass(frozen=True, kw_only=True)
class Response:
    """What a route answers; ``body`` is sent as is."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON
    headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, value: object) -> Response:
    """A success answer: compact JSON, no trailing newline."""
    return Response(status=status, body=gojson.encode(value).encode("utf-8"))


def error_response(exc: ApiError) -> Response:
    """Toxiproxy's error answer: JSON text with a newline, sent as ``text/plain``."""
    body = gojson.encode({"error": exc.message, "status": exc.status}) + "\n"
    return Response(
        status=exc.status,
        body=body.encode("utf-8"),
        content_type=TEXT,
        headers=(("X-Content-Type-Options", "nosniff"),),
    )


def request_id() -> str:
    """A 20-character ``[0-9a-v]`` id, the shape of the xid Toxiproxy sends."""
    return base64.b32hexencode(os.urandom(12)).decode("ascii").lower()[:20]


def clean_path(path: str) -> str:
    """Go's ``cleanPath`` as used by mux: resolve ``.``/``..``, collapse slashes, keep a trailing one."""
    if not path.startswith("/"):
        path = "/" + path
    cleaned = "/" + posixpath.normpath(path).lstrip("/")
    if cleaned == "/.":
        cleaned = "/"
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def _decode(body: bytes) -> object:
    try:
        return gojson.decode_first_value(body)
    except DecodeError as exc:
        raise ApiError(400, f"bad request body: {exc}") from None


def _bad_body(exc: DecodeError) -> ApiError:
    return ApiError(400, f"bad request body: {exc}")


def _proxy_spec(obj: Obj, *, enabled_default: bool = True) -> ProxySpec:
    enabled = gojson.get_bool(obj, "enabled", "Proxy")
    return ProxySpec(
        name=gojson.get_str(obj, "name", "Proxy") or "",
        listen=gojson.get_str(obj, "listen", "Proxy") or "",
        upstream=gojson.get_str(obj, "upstream", "Proxy") or "",
        enabled=enabled_default if enabled is None else enabled,
    )


Handler = Callable[["Api", dict[str, str], bytes], Response]


class Api:
    """Route handlers over a :class:`ProxyCollection`; transport-agnostic (see ``server``)."""

    def __init__(self, proxies: ProxyCollection) -> None:
        self.proxies = proxies

    def version(self, params: dict[str, str], body: bytes) -> Response:
        """GET /version: hand-formatted like Toxiproxy's (space after the colon, trailing newline)."""
        text = '{"version": ' + gojson.encode_string(__version__) + "}\n"
        return Response(status=200, body=text.encode(), content_type="application/json;charset=utf-8")

    def reset(self, params: dict[str, str], body: bytes) -> Response:
        """POST /reset: enable every proxy and remove every toxic."""
        self.proxies.reset()
        return Response(status=204, content_type=None)

    def proxy_index(self, params: dict[str, str], body: bytes) -> Response:
        """GET /proxies: every proxy by name, keys sorted."""
        return json_response(200, {proxy.name: proxy.to_json() for proxy in self.proxies.all()})

    def proxy_create(self, params: dict[str, str], body: bytes) -> Response:
        """POST /proxies: create (and bind, unless created disabled) a proxy."""
        try:
            spec = _proxy_spec(gojson.expect_object(_decode(body), "api.proxyToxics"))
        except DecodeError as exc:
            raise _bad_body(exc) from None
        return json_response(201, self.proxies.create(spec).to_json())

    def populate(self, params: dict[str, str], body: bytes) -> Response:
        """POST /populate: keep, replace or create each listed proxy; always JSON, even on errors."""
        specs: list[ProxySpec] = []
        try:
            value = gojson.decode_first_value(body)
            if isinstance(value, Obj) or (value is not None and not isinstance(value, list)):
                kind = gojson.json_kind(value).split(" ")[0]
                raise DecodeError(f"json: cannot unmarshal {kind} into Go value of type {POPULATE_TYPE}")
            for item in value or []:
                specs.append(_proxy_spec(gojson.expect_object(item, "toxiproxy.Proxy")))
        except DecodeError as exc:
            return self._populate_answer([], _bad_body(exc))
        done, error = self.proxies.populate(specs)
        return self._populate_answer([proxy.to_json() for proxy in done], error)

    @staticmethod
    def _populate_answer(done: list[dict[str, object]], error: ApiError | None) -> Response:
        listed: list[dict[str, object]] | None = done or None
        if error is None:
            return json_response(201, {"proxies": listed})
        return json_response(
            error.status, {"error": error.message, "status": error.status, "proxies": listed}
        )

    def proxy_show(self, params: dict[str, str], body: bytes) -> Response:
        """GET /proxies/{proxy}."""
        return json_response(200, self.proxies.get(params["proxy"]).to_json())

    def proxy_update(self, params: dict[str, str], body: bytes) -> Response:
        """PATCH (or deprecated POST) /proxies/{proxy}: absent fields keep their current value."""
        proxy = self.proxies.get(params["proxy"])
        try:
            obj = gojson.expect_object(_decode(body), "api.proxyToxics")
            listen = gojson.get_str(obj, "listen", "Proxy")
            upstream = gojson.get_str(obj, "upstream", "Proxy")
            enabled = gojson.get_bool(obj, "enabled", "Proxy")
        except DecodeError as exc:
            raise _bad_body(exc) from None
        self.proxies.update(proxy, listen=listen, upstream=upstream, enabled=enabled)
        return json_response(200, proxy.to_json())

    def proxy_delete(self, params: dict[str, str], body: bytes) -> Response:
        """DELETE /proxies/{proxy}: its listener and connections are closed."""
        self.proxies.delete(params["proxy"])
        return Response(status=204, content_type=None)

    def toxic_index(self, params: dict[str, str], body: bytes) -> Response:
        """GET /proxies/{proxy}/toxics: upstream toxics first, each stream in creation order."""
        proxy = self.proxies.get(params["proxy"])
        return json_response(200, [toxic.to_json() for toxic in proxy.toxics()])

    def toxic_create(self, params: dict[str, str], body: bytes) -> Response:
        """POST /proxies/{proxy}/toxics: 200 (not 201), applied to live connections first."""
        proxy = self.proxies.get(params["proxy"])
        try:
            obj = gojson.expect_object(_decode(body), "toxics.ToxicWrapper")
            stream = gojson.get_str(obj, "stream", "ToxicWrapper")
            toxicity = gojson.get_float32(obj, "toxicity", "ToxicWrapper")
            spec = ToxicSpec(
                name=gojson.get_str(obj, "name", "ToxicWrapper"),
                type=gojson.get_str(obj, "type", "ToxicWrapper") or "",
                stream="downstream" if stream is None else stream,
                toxicity=1.0 if toxicity is None else toxicity,
            )
            _present, attributes = gojson.lookup(obj, "attributes")
            gojson.expect_object(attributes, "toxics.ToxicWrapper.attributes")
        except DecodeError as exc:
            raise _bad_body(exc) from None
        toxic = self.proxies.add_toxic(proxy, spec, attributes)
        return json_response(200, toxic.to_json())

    def toxic_show(self, params: dict[str, str], body: bytes) -> Response:
        """GET /proxies/{proxy}/toxics/{toxic}."""
        proxy = self.proxies.get(params["proxy"])
        return json_response(200, self.proxies.find_toxic(proxy, params["toxic"]).to_json())

    def toxic_update(self, params: dict[str, str], body: bytes) -> Response:
        """PATCH (or POST) a toxic: attributes are merged, an absent toxicity is kept."""
        proxy = self.proxies.get(params["proxy"])
        toxic = self.proxies.find_toxic(proxy, params["toxic"])
        try:
            obj = gojson.expect_object(_decode(body), "struct { Attributes interface {}; Toxicity float32 }")
            _present, raw = gojson.lookup(obj, "attributes")
            attributes = decode_attributes(toxic.type, raw, toxic.attributes)
            toxicity = gojson.get_float32(obj, "toxicity", "Toxicity")
        except DecodeError as exc:
            raise _bad_body(exc) from None
        self.proxies.update_toxic(proxy, toxic, attributes, toxic.toxicity if toxicity is None else toxicity)
        return json_response(200, toxic.to_json())

    def toxic_delete(self, params: dict[str, str], body: bytes) -> Response:
        """DELETE a toxic: held data is flushed; a removed ``timeout`` closes its connections."""
        proxy = self.proxies.get(params["proxy"])
        toxic = self.proxies.find_toxic(proxy, params["toxic"])
        proxy.remove_toxic(toxic)
        return Response(status=204, content_type=None)


#: (path pattern split in segments, ``{name}`` = one segment) → method → handler
ROUTES: tuple[tuple[tuple[str, ...], dict[str, Handler]], ...] = (
    (("reset",), {"POST": Api.reset}),
    (("proxies",), {"GET": Api.proxy_index, "POST": Api.proxy_create}),
    (("populate",), {"POST": Api.populate}),
    (
        ("proxies", "{proxy}"),
        {
            "GET": Api.proxy_show,
            "POST": Api.proxy_update,
            "PATCH": Api.proxy_update,
            "DELETE": Api.proxy_delete,
        },
    ),
    (("proxies", "{proxy}", "toxics"), {"GET": Api.toxic_index, "POST": Api.toxic_create}),
    (
        ("proxies", "{proxy}", "toxics", "{toxic}"),
        {
            "GET": Api.toxic_show,
            "POST": Api.toxic_update,
            "PATCH": Api.toxic_update,
            "DELETE": Api.toxic_delete,
        },
    ),
    (("version",), {"GET": Api.version}),
)


def match(path: str) -> tuple[dict[str, Handler], dict[str, str]] | None:
    """Find the route of a decoded, clean path: its method table and path parameters."""
    segments = tuple(path[1:].split("/"))
    for pattern, methods in ROUTES:
        if len(pattern) != len(segments):
            continue
        params: dict[str, str] = {}
        for expected, actual in zip(pattern, segments, strict=True):
            if expected.startswith("{"):
                if not actual:
                    break
                params[expected[1:-1]] = actual
            elif expected != actual:
                break
        else:
            return methods, params
    return None


def dispatch(api: Api, method: str, target: str, body: bytes, user_agent: str) -> Response:
    """Answer one request the way Toxiproxy's router and middlewares do (module docstring)."""
    split = urlsplit(target)
    path = unquote(split.path or "/")
    cleaned = clean_path(path)
    if cleaned != path:
        location = cleaned + (f"?{split.query}" if split.query else "")
        return Response(status=301, content_type=None, headers=(("Location", location),))
    found = match(path)
    if found is None:
        return Response(status=404, body=b"404 page not found\n", content_type=TEXT)
    methods, params = found
    handler = methods.get(method)
    if handler is None:
        return Response(status=405, content_type=None)
    headers = (("X-Toxiproxy-Request-Id", request_id()),)
    if user_agent.startswith("Mozilla/"):
        return Response(status=403, body=b"User agent not allowed\n", content_type=TEXT, headers=headers)
    try:
        response = handler(api, params, body)
    except ApiError as exc:
        response = error_response(exc)
    return Response(
        status=response.status,
        body=response.body,
        content_type=response.content_type,
        headers=response.headers + headers,
    )
