"""``POST /v1/generate``: the paid call, with its barrier hold, delay, hang or trickle.

A raw ASGI handler rather than a Starlette endpoint, because a held or hanging call must keep
listening on the ASGI receive channel: that is how a client that gives up is noticed at once and
recorded as ``aborted``, without polling. Every pause races three things: the thing awaited (a
barrier release, a timer), the client going away, and the epoch ending (reset or shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
from collections.abc import Awaitable
from typing import Any

from starlette.types import Receive, Scope, Send

from harness.faults.provider.ledger import Slot
from harness.faults.provider.model import Json, Kind, Outcome, Response
from harness.faults.provider.rules import Rendered, error_body, render
from harness.faults.provider.state import Epoch, ProviderState

#: one byte of a trickle: whitespace, so a streaming JSON parser keeps waiting for more
TRICKLE_BYTE = b" "

_JSON = {"content-type": "application/json"}


class Cut(enum.Enum):
    """Why a paused call stopped before its pause was over."""

    DISCONNECT = "disconnect"  #: the client went away
    EPOCH = "epoch"  #: reset or shutdown


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _Call:
    """One call in flight: its ledger slot, its epoch and a watch on its client's connection."""

    def __init__(self, receive: Receive, send: Send, slot: Slot, epoch: Epoch) -> None:
        self._send = send
        self.slot = slot
        self.epoch = epoch
        self.gone = asyncio.ensure_future(_until_disconnect(receive))
        correlation_id = slot.entry.correlation_id
        self._echo = (
            [] if correlation_id is None else [(b"x-correlation-id", correlation_id.encode("latin-1"))]
        )

    async def start(self, status: int, headers: dict[str, str]) -> None:
        """Send the status line and headers (echoing ``X-Correlation-Id`` for the target's logs)."""
        raw = [(k.encode(), v.encode()) for k, v in headers.items()] + self._echo
        await self._send({"type": "http.response.start", "status": status, "headers": raw})

    async def write(self, body: bytes, *, more: bool = False) -> None:
        """Send (part of) the body; a client that went away is not an error here."""
        with contextlib.suppress(OSError):
            await self._send({"type": "http.response.body", "body": body, "more_body": more})

    async def pause(self, until: Awaitable[object] | None = None, seconds: float | None = None) -> Cut | None:
        """Wait for ``until`` and/or ``seconds`` (both None: forever); a :class:`Cut` if cut short."""
        ended = asyncio.ensure_future(self.epoch.ended.wait())
        awaited = asyncio.ensure_future(until) if until is not None else None
        waiters: set[asyncio.Future[Any]] = {self.gone, ended}
        if awaited is not None:
            waiters.add(awaited)
        try:
            done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (ended, awaited):
                if future is not None:
                    future.cancel()
        if self.gone in done:
            return Cut.DISCONNECT
        if ended in done or self.epoch.ended.is_set():
            return Cut.EPOCH
        return None

    async def answer(self, rendered: Rendered) -> None:
        """Record how the call ends, then send the complete answer (so the entry never lags the client)."""
        self.slot.end(status=rendered.status, outcome=rendered.outcome)
        await self.send_answer(rendered.status, rendered.headers, rendered.body)

    async def send_answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        """Send a whole answer."""
        await self.start(status, {**headers, "content-length": str(len(body))})
        await self.write(body)

    async def cut(self, why: Cut) -> None:
        """End a call that was cut short: nothing to send to a gone client, a 503 after a reset."""
        if why is Cut.DISCONNECT:
            self.slot.end(outcome=Outcome.ABORTED)
            return
        reason = self.epoch.reason or "reset"
        self.slot.end(status=503, outcome=Outcome.RESET)
        await self.send_answer(503, _JSON, json.dumps({"error": reason}).encode())

    def close(self) -> None:
        self.gone.cancel()


class GenerateEndpoint:
    """ASGI app of ``POST /v1/generate``; see ``docs/contracts.md`` section 1 for the behaviour."""

    def __init__(self, state: ProviderState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        item_id, batch_id, problem = _parse(body)
        slot = self.state.ledger.record(
            Kind.GENERATE,
            item_id=item_id,
            batch_id=batch_id,
            idempotency_key=headers.get("idempotency-key"),
            correlation_id=headers.get("x-correlation-id"),
            attempt_header=_int_or_none(headers.get("x-attempt")),
            counted=problem is None,
        )
        call = _Call(receive, send, slot, self.state.epoch)
        try:
            if problem is not None:
                payload = json.dumps(error_body(400, problem)).encode()
                await call.answer(Rendered(status=400, headers=_JSON, body=payload, outcome=Outcome.ERROR))
            elif self.state.closing:
                await call.cut(Cut.EPOCH)
            else:
                await self._serve(call)
        finally:
            call.close()

    async def _serve(self, call: _Call) -> None:
        entry = call.slot.entry
        barrier = self.state.barriers.match(entry.item_id, entry.attempt, entry.nth)
        if barrier is not None:
            call.slot.update(outcome=Outcome.HELD, barrier_id=barrier.id)
            barrier.arrive()
            try:
                why = await call.pause(until=barrier.opened.wait())
            finally:
                barrier.leave()
            if why is not None:
                return await call.cut(why)
            call.slot.update(outcome=None)
        rule = self.state.rules.take(entry.item_id, entry.attempt, entry.nth)
        if rule is not None:
            call.slot.update(rule_id=rule.id)
            response = rule.response
        else:
            response = Response(delay_ms=self.state.config.default_delay_ms)
        if response.delay_ms > 0 and (why := await call.pause(seconds=response.delay_ms / 1000)) is not None:
            return await call.cut(why)
        if response.hang:
            call.slot.update(outcome=Outcome.HANG)
            return await call.cut(await call.pause() or Cut.EPOCH)
        if response.trickle_ms is not None:
            return await self._trickle(call, response.status, response.trickle_ms / 1000)
        rendered = render(
            response,
            seq=entry.seq,
            item_id=entry.item_id,
            idempotency_key=entry.idempotency_key,
            rule_id=rule.id if rule is not None else None,
            attempt=entry.attempt,
        )
        await call.answer(rendered)

    @staticmethod
    async def _trickle(call: _Call, status: int, interval: float) -> None:
        """Headers at once, then one byte every ``interval`` s until the client goes or a reset."""
        call.slot.update(status=status, outcome=Outcome.TRICKLE)
        await call.start(status, _JSON)
        while (why := await call.pause(seconds=interval)) is None:
            await call.write(TRICKLE_BYTE, more=True)
        if why is Cut.DISCONNECT:
            call.slot.end(outcome=Outcome.ABORTED)
        else:
            call.slot.end(outcome=Outcome.RESET)
            await call.write(b"")


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _parse(body: bytes) -> tuple[str | None, str | None, str | None]:
    """``(item_id, batch_id, problem)``; a problem means the call is answered 400."""
    try:
        data: Json = json.loads(body)
    except ValueError:
        return None, None, "body is not JSON"
    if not isinstance(data, dict):
        return None, None, "body must be a JSON object"
    item_id, batch_id = data.get("item_id"), data.get("batch_id")
    if not isinstance(item_id, str) or not item_id:
        return None, None, "item_id: expected a non-empty string"
    if batch_id is not None and not isinstance(batch_id, str):
        return item_id, None, "batch_id: expected a string or null"
    return item_id, batch_id, None


def _int_or_none(text: str | None) -> int | None:
    try:
        return None if text is None else int(text)
    except ValueError:
        return None
