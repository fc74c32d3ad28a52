"""Rules (which call gets which scripted response) and the rendering of a response to bytes.

Both halves are pure and synchronous, in the spirit of httpx's ``MockTransport``: a call goes in,
a decision comes out. The timing parts of a response (delay, hang, trickle) are carried out by
``work.py``; this module only decides and renders, so it is unit-tested without a server.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
from dataclasses import dataclass

from harness.faults.provider.model import Json, Outcome, Response, Rule

#: ``error.type`` of the default error body, by status (anything else: ``http_<status>``).
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found",
    408: "request_timeout",
    409: "conflict",
    413: "request_too_large",
    422: "invalid_request",
    429: "rate_limited",
    500: "server_error",
    502: "bad_gateway",
    503: "overloaded",
    504: "gateway_timeout",
}


class RuleBook:
    """The rules in creation order; the first one that matches a call and has uses left wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)

    def add(self, data: Json) -> Rule:
        """Validate a ``POST /_control/rules`` body and append the rule (``ValueError`` if invalid).

        The body may choose the rule's ``id`` (a caller that registers the rule's removal before
        adding it, so that an interrupt in between cannot leave an unknown rule behind); a chosen id
        already in use is refused. Without one, the server numbers it ``r<n>``.
        """
        with self._lock:
            rule = Rule.from_json(data, rule_id=f"r{next(self._ids)}")
            if any(r.id == rule.id for r in self._rules):
                raise ValueError(f"id: a rule {rule.id!r} exists already")
            self._rules.append(rule)
            return rule

    def remove(self, rule_id: str) -> bool:
        """Delete one rule; False when there is no such rule."""
        with self._lock:
            kept = [rule for rule in self._rules if rule.id != rule_id]
            found = len(kept) != len(self._rules)
            self._rules = kept
            return found

    def clear(self) -> None:
        """Delete every rule; rule ids keep counting so an old id never names a new rule."""
        with self._lock:
            self._rules = []

    def snapshot(self) -> list[Rule]:
        """The rules in creation order, with their use counts."""
        with self._lock:
            return list(self._rules)

    def take(self, item_id: str | None, attempt: int | None, nth: int | None = None) -> Rule | None:
        """Find the rule for this call and count one use of it (atomically); the rule after the use."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.matches(item_id, attempt, nth):
                    self._rules[index] = taken = dataclasses.replace(rule, used=rule.used + 1)
                    return taken
            return None


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """A complete answer: status, headers and body bytes, and the outcome the ledger records."""

    status: int
    headers: dict[str, str]
    body: bytes
    outcome: Outcome


def success_body(seq: int, item_id: str | None, idempotency_key: str | None) -> dict[str, Json]:
    """The default 200 body of ``POST /v1/generate``."""
    return {
        "id": f"call-{seq}",
        "item_id": item_id,
        "output": f"result:{item_id}",
        "idempotency_key": idempotency_key,
    }


def error_body(status: int, message: str) -> dict[str, Json]:
    """The default body of an error status, shaped like a real AI provider's error."""
    return {"error": {"type": ERROR_TYPES.get(status, f"http_{status}"), "message": message}}


def format_retry_after(seconds: float) -> str:
    """``Retry-After`` value: whole seconds as an integer, fractions kept (useful for fast tests)."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def render(
    response: Response,
    *,
    seq: int,
    item_id: str | None,
    idempotency_key: str | None,
    rule_id: str | None,
    attempt: int | None,
) -> Rendered:
    """Turn a (non-hanging, non-trickling) response script into the bytes to send."""
    headers = {"content-type": "application/json"}
    if response.retry_after is not None:
        headers["retry-after"] = format_retry_after(response.retry_after)
    default = success_body(seq, item_id, idempotency_key)
    if response.malformed:
        # A truncated JSON object: what a provider cut off mid-answer looks like to a parser.
        return Rendered(
            status=response.status,
            headers=headers,
            body=json.dumps(default).encode()[:-1] + b', "output_tokens": ',
            outcome=Outcome.MALFORMED,
        )
    if response.body is not None:
        payload: Json = response.body
    elif response.status >= 400:
        why = f"rule {rule_id}" if rule_id else "scripted"
        payload = error_body(
            response.status, f"{why}: item {item_id} attempt {attempt} answered {response.status}"
        )
    else:
        payload = default
    return Rendered(
        status=response.status,
        headers=headers,
        body=json.dumps(payload).encode(),
        outcome=Outcome.ERROR if response.status >= 400 else Outcome.OK,
    )
