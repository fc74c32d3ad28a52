"""``GET /v1/listing``: a paginated source of items, optionally one whose ``has_more`` never ends.

TEST-RR-SL01 sources a batch from such a listing and checks that the target stops at its own
bound. Item ``n`` (0-based position) is ``{"id": "src-<n+1>"}``; the cursor is the position of the
first item of the page. Every page fetch is a ledger entry (``kind: "listing"``, ``cursor`` set,
``attempt`` = n-th fetch of that cursor). Rules and barriers do not apply to the listing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from harness.faults.provider.ledger import Slot
from harness.faults.provider.model import Json, Kind, Outcome, ProviderConfig
from harness.faults.provider.rules import error_body
from harness.faults.provider.state import ProviderState

#: the largest ``limit`` a page may ask for
MAX_LIMIT = 1000


def page(config: ProviderConfig, cursor: int, limit: int | None) -> dict[str, Json]:
    """The page starting at ``cursor``: ``{"items", "has_more", "next_cursor"}``."""
    size = config.listing_page_size if limit is None else limit
    end = cursor + size if config.listing_never_ending else min(cursor + size, config.listing_total)
    end = max(end, cursor)
    has_more = config.listing_never_ending or end < config.listing_total
    return {
        "items": [{"id": f"src-{n + 1}"} for n in range(cursor, end)],
        "has_more": has_more,
        "next_cursor": end if has_more else None,
    }


def _query_int(request: Request, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}: expected an integer, got {text!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name}: expected an integer {bound}, got {value}")
    return value


async def listing(request: Request) -> JSONResponse:
    """Answer one page and record the fetch in the ledger."""
    state: ProviderState = request.app.state.provider
    try:
        cursor = _query_int(request, "cursor", minimum=0)
        limit = _query_int(request, "limit", minimum=1, maximum=MAX_LIMIT)
    except ValueError as exc:
        slot = _record(state, request, cursor=None)
        slot.end(status=400, outcome=Outcome.ERROR)
        return JSONResponse(error_body(400, str(exc)), status_code=400)
    slot = _record(state, request, cursor=cursor or 0)
    answer = page(state.config, cursor or 0, limit)
    slot.end(status=200, outcome=Outcome.OK)
    return JSONResponse(answer)


def _record(state: ProviderState, request: Request, *, cursor: int | None) -> Slot:
    """A ledger entry for this fetch; an invalid query (``cursor=None``) gets no attempt number."""
    return state.ledger.record(
        Kind.LISTING,
        idempotency_key=request.headers.get("idempotency-key"),
        correlation_id=request.headers.get("x-correlation-id"),
        cursor=cursor,
        counted=cursor is not None,
    )
