"""The mock provider as one ASGI app: work endpoint, listing endpoint and control API on one port."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from harness.faults.provider import control
from harness.faults.provider.listing import listing
from harness.faults.provider.state import ProviderState
from harness.faults.provider.work import GenerateEndpoint


def build_app(state: ProviderState | None = None) -> Starlette:
    """The ASGI app over ``state`` (a fresh one by default), reachable as ``app.state.provider``."""
    provider = state or ProviderState()
    app = Starlette(
        routes=[
            Route("/v1/generate", GenerateEndpoint(provider), methods=["POST"]),
            Route("/v1/listing", listing, methods=["GET"]),
            *control.routes(),
        ]
    )
    app.state.provider = provider
    return app
