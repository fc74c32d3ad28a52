"""The control API under ``/_control``: what the harness calls to script, hold, read and reset.

Every handler answers at once (only ``/wait`` long-polls, without blocking the loop), also while
calls are held. Errors are ``{"error": "<message>"}`` with 400 (invalid body, message names the
field), 404 (unknown id), 408 (wait timed out) or 409 (wait on a barrier that can no longer catch
a call).

With a control token (:mod:`harness.faults.control_token`) every ``/_control`` request must send
``Authorization: Bearer <token>``, else 401 ``{"error": ...}``. :class:`ControlAuth` checks it in
front of the router, on the same path the router matches, and leaves the work and listing
endpoints alone: they are what the target calls, and the target has no business holding the token.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.faults.control_token import UNAUTHORIZED_MESSAGE, WWW_AUTHENTICATE, authorized
from harness.faults.provider.barriers import Barrier, BarrierBoard, WaitResult
from harness.faults.provider.model import Json
from harness.faults.provider.state import ProviderState

#: the prefix of every control route (and of every path :class:`ControlAuth` guards)
BASE = "/_control"
#: the longest ``/wait`` long-poll the server accepts, in seconds
MAX_WAIT = 600.0

Handler = Callable[[Request], Awaitable[Response]]


class _NotFound(LookupError):
    pass


def _handles_errors(handler: Handler) -> Handler:
    """Map ``ValueError`` to 400 and unknown ids to 404, so handlers only write the happy path."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except _NotFound as exc:
            return JSONResponse({"error": str(exc.args[0])}, status_code=404)

    return wrapper


def _state(request: Request) -> ProviderState:
    state: ProviderState = request.app.state.provider
    return state


async def _body(request: Request) -> dict[str, Json]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ValueError("body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError(f"body: expected a JSON object, got {data!r}")
    return data


def _barrier(request: Request) -> Barrier:
    barrier_id = request.path_params["barrier_id"]
    barrier = _state(request).barriers.get(barrier_id)
    if barrier is None:
        raise _NotFound(f"no barrier {barrier_id} (ids do not survive a reset)")
    return barrier


@_handles_errors
async def health(request: Request) -> Response:
    """Liveness for readiness waits."""
    return JSONResponse({"status": "ok"})


@_handles_errors
async def reset(request: Request) -> Response:
    """Between scenarios: empty ledger, no rules, no barriers, default config, held calls answered."""
    _state(request).reset()
    return Response(status_code=204)


@_handles_errors
async def get_config(request: Request) -> Response:
    """The current config."""
    return JSONResponse(_state(request).config.to_json())


@_handles_errors
async def put_config(request: Request) -> Response:
    """Change some config fields; answers the whole config."""
    state = _state(request)
    state.config = state.config.updated(await _body(request))
    return JSONResponse(state.config.to_json())


@_handles_errors
async def add_rule(request: Request) -> Response:
    """Append a rule (201 with the rule, its id included)."""
    rule = _state(request).rules.add(await _body(request))
    return JSONResponse(rule.to_json(), status_code=201)


@_handles_errors
async def list_rules(request: Request) -> Response:
    """Every rule with its use count, in creation (= matching) order."""
    return JSONResponse([rule.to_json() for rule in _state(request).rules.snapshot()])


@_handles_errors
async def delete_rule(request: Request) -> Response:
    """Remove one rule; 404 if unknown (e.g. already cleared by a reset)."""
    rule_id = request.path_params["rule_id"]
    if not _state(request).rules.remove(rule_id):
        raise _NotFound(f"no rule {rule_id}")
    return Response(status_code=204)


@_handles_errors
async def clear_rules(request: Request) -> Response:
    """Remove every rule."""
    _state(request).rules.clear()
    return Response(status_code=204)


def _positive_int_or_none(data: dict[str, Json], key: str) -> int | None:
    value = data.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{key}: expected an integer >= 1 or null, got {value!r}")
    return value


@_handles_errors
async def add_barrier(request: Request) -> Response:
    """Start holding every call matching ``item_id``, ``attempt`` and ``nth`` (those given)."""
    data = await _body(request)
    unknown = set(data) - {"item_id", "attempt", "nth"}
    if unknown:
        raise ValueError(
            f"barrier: unknown field(s) {', '.join(sorted(unknown))}; allowed: attempt, item_id, nth"
        )
    item_id = data.get("item_id")
    if item_id is not None and (not isinstance(item_id, str) or not item_id):
        raise ValueError(f"item_id: expected a non-empty string or null, got {item_id!r}")
    attempt, nth = _positive_int_or_none(data, "attempt"), _positive_int_or_none(data, "nth")
    if item_id is None and nth is None:
        raise ValueError("barrier: item_id or nth is required (at least one of them)")
    barrier = _state(request).barriers.add(item_id, attempt, nth=nth)
    return JSONResponse(barrier.state().to_json(), status_code=201)


@_handles_errors
async def list_barriers(request: Request) -> Response:
    """Every barrier of this scenario (active or not)."""
    return JSONResponse([b.state().to_json() for b in _state(request).barriers.all()])


@_handles_errors
async def get_barrier(request: Request) -> Response:
    """One barrier's counters and flags."""
    return JSONResponse(_barrier(request).state().to_json())


@_handles_errors
async def wait_barrier(request: Request) -> Response:
    """Long-poll until ``count`` calls arrived: 200, else 408 (timeout) or 409 (barrier inactive)."""
    barrier = _barrier(request)
    data = await _body(request)
    timeout, count = data.get("timeout", 10.0), data.get("count", 1)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= MAX_WAIT:
        raise ValueError(f"timeout: expected seconds 0..{MAX_WAIT:g}, got {timeout!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count: expected an integer >= 1, got {count!r}")
    result = await BarrierBoard.wait(barrier, count, float(timeout))
    state = barrier.state().to_json()
    if result is WaitResult.REACHED:
        return JSONResponse(state)
    if result is WaitResult.TIMEOUT:
        message = f"{barrier.arrived} of {count} call(s) arrived at {barrier.id} within {timeout:g} s"
        return JSONResponse({"error": message, "barrier": state}, status_code=408)
    message = f"barrier {barrier.id} no longer catches calls (released, removed or reset)"
    return JSONResponse({"error": message, "barrier": state}, status_code=409)


@_handles_errors
async def release_barrier(request: Request) -> Response:
    """Let the held calls go on (also those of an abandoned barrier); stop catching new calls."""
    barrier = _barrier(request)
    barrier.release()
    return JSONResponse(barrier.state().to_json())


@_handles_errors
async def delete_barrier(request: Request) -> Response:
    """Stop catching new calls; held calls stay held ("left hanging")."""
    _barrier(request).deactivate()
    return Response(status_code=204)


@_handles_errors
async def ledger(request: Request) -> Response:
    """Entries with ``seq > since`` (default 0: all)."""
    text = request.query_params.get("since", "0")
    try:
        since = int(text)
    except ValueError:
        raise ValueError(f"since: expected an integer seq, got {text!r}") from None
    return JSONResponse({"entries": [e.to_json() for e in _state(request).ledger.entries(since)]})


class ControlAuth:
    """ASGI middleware: ``/_control`` requests without the right bearer token get a 401.

    Pure ASGI rather than Starlette's ``BaseHTTPMiddleware``, so the work endpoint keeps its own
    receive channel (that is how a held call notices its client going away).
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        guarded = scope["type"] == "http" and (path == BASE or path.startswith(f"{BASE}/"))
        if guarded and not authorized(Headers(scope=scope).get("authorization"), self.token):
            headers = {"WWW-Authenticate": WWW_AUTHENTICATE}
            answer = JSONResponse({"error": UNAUTHORIZED_MESSAGE}, status_code=401, headers=headers)
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)


def routes() -> list[BaseRoute]:
    """The control API's routes."""
    base = BASE
    return [
        Route(f"{base}/health", health, methods=["GET"]),
        Route(f"{base}/reset", reset, methods=["POST"]),
        Route(f"{base}/config", get_config, methods=["GET"]),
        Route(f"{base}/config", put_config, methods=["PUT"]),
        Route(f"{base}/rules", add_rule, methods=["POST"]),
        Route(f"{base}/rules", list_rules, methods=["GET"]),
        Route(f"{base}/rules", clear_rules, methods=["DELETE"]),
        Route(f"{base}/rules/{{rule_id}}", delete_rule, methods=["DELETE"]),
        Route(f"{base}/barriers", add_barrier, methods=["POST"]),
        Route(f"{base}/barriers", list_barriers, methods=["GET"]),
        Route(f"{base}/barriers/{{barrier_id}}", get_barrier, methods=["GET"]),
        Route(f"{base}/barriers/{{barrier_id}}", delete_barrier, methods=["DELETE"]),
        Route(f"{base}/barriers/{{barrier_id}}/wait", wait_barrier, methods=["POST"]),
        Route(f"{base}/barriers/{{barrier_id}}/release", release_barrier, methods=["POST"]),
        Route(f"{base}/ledger", ledger, methods=["GET"]),
    ]
