"""Typed client of the mock provider's control API, used by scenarios and fault code.

Every call has a timeout; every failure (connection, timeout, error status, unreadable answer)
is a :class:`~harness.errors.ProviderError` raised ``from`` the original. Faults come with a heal
that runs in ``finally``::

    with provider.rule("item-7", status=422):          # removed on exit
        ...
    with provider.barrier("item-8") as gate:           # released on exit
        gate.wait(timeout=10)                          # a worker is now inside item 8
        worker.kill()

Before the target has assigned item ids, aim at a call by its place instead: ``nth=8`` is the 8th
work call since the last reset (``provider.barrier(nth=8)``, ``provider.rule(nth=7, status=422)``).

The control token (``CHAOS_AUDIT_CONTROL_TOKEN``, or ``token=``) goes with every call when set.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

import requests

from harness.errors import ProviderError
from harness.faults.control_token import bearer_headers, client_token
from harness.faults.provider.model import BarrierState, Json, LedgerEntry, ProviderConfig, Response, Rule

T = TypeVar("T")

#: seconds for a control call (the control API answers at once; only ``/wait`` long-polls)
DEFAULT_TIMEOUT = 5.0


def new_rule_id(prefix: str = "rule") -> str:
    """A rule id of the caller's choosing (``POST /_control/rules`` with ``id``), unique per call."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class ProviderClient:
    """The control API of one mock provider at ``base_url`` (e.g. ``http://127.0.0.1:8470``).

    ``token``: the control token; None (default) reads ``CHAOS_AUDIT_CONTROL_TOKEN``, ``""`` sends none.
    """

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers.update(bearer_headers(client_token(token)))

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Json = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        expect: tuple[int, ...] = (200, 201, 204),
    ) -> Json:
        """One control call; the decoded JSON answer (None for 204) or a ``ProviderError``."""
        url = f"{self.base_url}{path}"
        try:
            answer = self._session.request(
                method, url, json=json, params=params, timeout=timeout or self.timeout
            )
        except requests.RequestException as exc:
            raise ProviderError(
                f"{method} {url} failed: {exc}; hint: is the mock provider running "
                "(`chaos-audit provider --port N`) and is the URL right?"
            ) from exc
        if answer.status_code not in expect:
            raise ProviderError(f"{method} {url} answered {answer.status_code}: {_error_text(answer)}")
        if answer.status_code == 204 or not answer.content:
            return None
        try:
            return answer.json()
        except ValueError as exc:
            raise ProviderError(f"{method} {url} answered {answer.status_code} with a non-JSON body") from exc

    def _fetch(self, decode: Callable[[Json], T], method: str, path: str, **kwargs: Any) -> T:
        """A control call whose answer is decoded into a value; an unexpected shape is a ProviderError."""
        data = self._call(method, path, **kwargs)
        try:
            return decode(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError(
                f"{method} {self.base_url}{path} answered an unexpected body ({exc!r}): {str(data)[:200]}"
            ) from exc

    # -- health, reset, config ----------------------------------------------------------------

    def health(self) -> bool:
        """True when the provider answers its health check (raises ``ProviderError`` otherwise)."""
        return bool(self._call("GET", "/_control/health") == {"status": "ok"})

    def wait_until_ready(self, timeout: float = 10.0, *, interval: float = 0.02) -> None:
        """Poll the health check until it answers; ``ProviderError`` saying what was tried otherwise."""
        deadline = time.monotonic() + timeout
        tries = 0
        while True:
            tries += 1
            try:
                self._call("GET", "/_control/health", timeout=min(1.0, self.timeout))
                return
            except ProviderError as exc:
                last = exc
            if time.monotonic() + interval > deadline:
                raise ProviderError(
                    f"mock provider at {self.base_url} not ready after {timeout:g} s: "
                    f"GET /_control/health tried {tries} time(s), last error: {last.__cause__ or last}; "
                    "hint: check that `chaos-audit provider` runs on this host and port, and read its log"
                ) from last
            time.sleep(interval)

    def reset(self) -> None:
        """Empty the ledger, drop rules and barriers, restore the config; held calls get a 503."""
        self._call("POST", "/_control/reset")

    def config(self) -> ProviderConfig:
        """The current config."""
        return self._fetch(ProviderConfig.from_json, "GET", "/_control/config")

    def configure(self, **fields: Any) -> ProviderConfig:
        """Change config fields (``default_delay_ms``, ``listing_total``, ...); the whole new config."""
        return self._fetch(ProviderConfig.from_json, "PUT", "/_control/config", json=fields)

    # -- rules --------------------------------------------------------------------------------

    def add_rule(
        self,
        item_id: str | None = None,
        attempt: int | None = None,
        times: int | None = None,
        *,
        status: int = 200,
        delay_ms: float = 0,
        hang: bool = False,
        trickle_ms: float | None = None,
        malformed: bool = False,
        retry_after: float | None = None,
        body: Json = None,
        nth: int | None = None,
        rule_id: str | None = None,
    ) -> str:
        """Script the answer to calls matching ``item_id``/``attempt``/``nth`` (None = any); the id.

        ``times`` limits the uses (None = unlimited); ``nth`` is the call's place among the work
        calls since the last reset (ledger ``nth``). ``rule_id`` chooses the rule's id (see
        :func:`new_rule_id`), so its removal can be registered before the rule exists.
        """
        response = Response(
            status=status,
            delay_ms=delay_ms,
            hang=hang,
            trickle_ms=trickle_ms,
            malformed=malformed,
            retry_after=retry_after,
            body=body,
        )
        data = {
            "item_id": item_id,
            "attempt": attempt,
            "nth": nth,
            "times": times,
            "response": response.to_json(),
        }
        if rule_id is not None:
            data["id"] = rule_id
        return self._fetch(Rule.from_json, "POST", "/_control/rules", json=data).id

    @contextmanager
    def rule(
        self, item_id: str | None = None, attempt: int | None = None, times: int | None = None, **answer: Any
    ) -> Iterator[str]:
        """:meth:`add_rule` (``answer``: its keyword arguments) for the ``with`` block only: removed
        on exit (heal), also on errors.

        The rule's id is chosen here, so a Ctrl-C landing after the provider added the rule but
        before its answer arrived still removes it.
        """
        rule_id = new_rule_id("rule")
        try:
            self.add_rule(item_id, attempt, times, **answer, rule_id=rule_id)
        except BaseException:  # e.g. a Ctrl-C after the provider added it: remove it, keep the error
            with suppress(ProviderError):
                self.remove_rule(rule_id, missing_ok=True)
            raise
        try:
            yield rule_id
        finally:
            self.remove_rule(rule_id, missing_ok=True)

    def rules(self) -> list[Rule]:
        """Every rule with its use count, in matching order."""
        return self._fetch(lambda data: [Rule.from_json(item) for item in data], "GET", "/_control/rules")

    def remove_rule(self, rule_id: str, *, missing_ok: bool = False) -> None:
        """Delete one rule; ``missing_ok`` accepts a rule already gone (e.g. after a reset)."""
        self._call("DELETE", f"/_control/rules/{rule_id}", expect=(204, 404) if missing_ok else (204,))

    def clear_rules(self) -> None:
        """Delete every rule."""
        self._call("DELETE", "/_control/rules")

    # -- barriers and ledger ------------------------------------------------------------------

    def barrier(
        self, item_id: str | None = None, attempt: int | None = None, *, nth: int | None = None
    ) -> Barrier:
        """Hold every call for ``item_id`` (and ``attempt``), or the ``nth`` work call, from now on.

        ``item_id`` or ``nth`` is required; every field given must match. Use it in ``with`` to heal.
        """
        path = "/_control/barriers"
        data = {"item_id": item_id, "attempt": attempt, "nth": nth}
        state = self._fetch(BarrierState.from_json, "POST", path, json=data)
        return Barrier(client=self, id=state.id, item_id=item_id, attempt=attempt, nth=nth)

    def ledger(self, since: int | None = None) -> list[LedgerEntry]:
        """Every call recorded (with ``since``: only those with a greater ``seq``), oldest first."""
        params = None if since is None else {"since": since}
        return self._fetch(
            lambda data: [LedgerEntry.from_json(entry) for entry in data["entries"]],
            "GET",
            "/_control/ledger",
            params=params,
        )


@dataclass(frozen=True, kw_only=True)
class Barrier:
    """Handle on one barrier; as a context manager it releases the barrier on exit (heal)."""

    client: ProviderClient = field(repr=False, compare=False)
    id: str
    item_id: str | None
    attempt: int | None
    nth: int | None = None

    def state(self) -> BarrierState:
        """Counters and flags now."""
        return self.client._fetch(BarrierState.from_json, "GET", f"/_control/barriers/{self.id}")

    def wait(self, timeout: float, count: int = 1) -> BarrierState:
        """Block until ``count`` calls have arrived; ``ProviderError`` on timeout or if it cannot happen."""
        path = f"/_control/barriers/{self.id}/wait"
        try:
            return self.client._fetch(
                BarrierState.from_json,
                "POST",
                path,
                json={"timeout": timeout, "count": count},
                timeout=timeout + self.client.timeout,
            )
        except ProviderError as exc:
            raise ProviderError(
                f"waiting for {count} call(s) for {self._aim()} at barrier {self.id}: {exc}; "
                "hint: is the target running and routed to this provider, and has it reached this item?"
            ) from exc

    def _aim(self) -> str:
        """What the barrier catches, for messages: ``item i``, ``item i attempt 2``, ``work call nth=8``."""
        parts = [] if self.item_id is None else [f"item {self.item_id}"]
        if self.attempt is not None:
            parts.append(f"attempt {self.attempt}")
        if self.nth is not None:
            parts.append(f"work call nth={self.nth}")
        return " ".join(parts)

    def release(self) -> BarrierState:
        """Let the held calls go on (also after :meth:`abandon`); catch no new calls."""
        return self.client._fetch(BarrierState.from_json, "POST", f"/_control/barriers/{self.id}/release")

    def abandon(self) -> None:
        """Catch no new calls but leave the held ones hanging (until their client goes or a reset)."""
        self.client._call("DELETE", f"/_control/barriers/{self.id}")

    def __enter__(self) -> Barrier:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # 404: a reset already cleared the barrier and answered its calls, nothing left to heal.
        self.client._call("POST", f"/_control/barriers/{self.id}/release", expect=(200, 404))


def _error_text(answer: requests.Response) -> str:
    """The control API's ``error`` message, else the start of the raw body."""
    try:
        data = answer.json()
    except ValueError:
        return answer.text[:200] or "(empty body)"
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return str(data)[:200]
