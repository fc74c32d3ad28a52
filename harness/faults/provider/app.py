"""The mock provider as one ASGI app: work endpoint, listing endpoint and control API on one port."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from harness.faults.provider import control
from harness.faults.provider.listing import listing
from harness.faults.provider.state import ProviderState
from harness.faults.provider.work import GenerateEndpoint


def build_app(state: ProviderState | None = None, *, token: str | None = None) -> Starlette:
    """The ASGI app over ``state`` (a fresh one by default), reachable as ``app.state.provider``.

    With ``token`` the control API asks for it (:class:`~.control.ControlAuth`); the work and
    listing endpoints never do.
    """
    provider = state or ProviderState()
    app = Starlette(
        routes=[
            Route("/v1/generate", GenerateEndpoint(provider), methods=["POST"]),
            Route("/v1/listing", listing, methods=["GET"]),
            *control.routes(),
        ],
        middleware=[] if token is None else [Middleware(control.ControlAuth, token=token)],
    )
    app.state.provider = provider
    return app
