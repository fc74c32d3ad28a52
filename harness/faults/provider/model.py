"""Values the mock provider and its client exchange: one definition, one JSON shape, both sides.

The server validates what the harness sends with the same ``from_json`` the client uses to read the
answers, so a field renamed here is renamed everywhere (see ``docs/contracts.md`` section 1).
Everything is a frozen keyword-only dataclass; ``from_json`` raises ``ValueError`` with a message
naming the field, which the control API turns into a 400 and the client into a ``ProviderError``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, TypeAlias

#: Any JSON value (what ``json.loads`` returns).
Json: TypeAlias = Any


class Kind(enum.StrEnum):
    """Which endpoint a ledger entry records."""

    GENERATE = "generate"  #: POST /v1/generate, the paid call
    LISTING = "listing"  #: GET /v1/listing, one page of the paginated source


class Outcome(enum.StrEnum):
    """How a call ended (or, for the last three in-flight values, what it is doing now)."""

    OK = "ok"  #: answered with a status below 400
    ERROR = "error"  #: answered with a status of 400 or more
    MALFORMED = "malformed"  #: answered with a body that is not JSON
    ABORTED = "aborted"  #: the client went away before the answer was complete
    RESET = "reset"  #: cut short by a reset (or the server shutting down): 503 or an ended trickle
    HELD = "held"  #: in flight: held at a barrier
    HANG = "hang"  #: in flight: a rule said never answer
    TRICKLE = "trickle"  #: in flight: headers sent, one body byte per ``trickle_ms``


def _check_keys(data: Mapping[str, Json], allowed: set[str], what: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(
            f"{what}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _number(data: Mapping[str, Json], key: str, default: float | None, *, minimum: float = 0) -> float | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ValueError(f"{key}: expected a number >= {minimum:g} or null, got {value!r}")
    return float(value) if isinstance(value, float) else value


def _int(data: Mapping[str, Json], key: str, default: int | None, *, minimum: int) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key}: expected an integer >= {minimum} or null, got {value!r}")
    return value


def _bool(data: Mapping[str, Json], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key}: expected true or false, got {value!r}")
    return value


def _str(data: Mapping[str, Json], key: str, default: str | None = None) -> str | None:
    value = data.get(key, default)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key}: expected a string or null, got {value!r}")
    return value


def _object(data: Json, what: str) -> Mapping[str, Json]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{what}: expected a JSON object, got {data!r}")
    return data


@dataclass(frozen=True, kw_only=True)
class Response:
    """What a rule makes the provider answer; the defaults are an ordinary, immediate 200."""

    status: int = 200
    delay_ms: float = 0
    hang: bool = False
    trickle_ms: float | None = None
    malformed: bool = False
    retry_after: float | None = None
    body: Json = None

    @classmethod
    def from_json(cls, data: Json) -> Response:
        """Validate a rule's ``response`` object; unknown fields are refused, not ignored."""
        obj = _object(data, "response")
        _check_keys(obj, {f.name for f in fields(cls)}, "response")
        status = _int(obj, "status", 200, minimum=100)
        if status is None or status > 599:
            raise ValueError(f"status: expected an HTTP status 100-599, got {obj.get('status')!r}")
        trickle_ms = _number(obj, "trickle_ms", None, minimum=1)
        hang = _bool(obj, "hang", False)
        if hang and trickle_ms is not None:
            raise ValueError("hang and trickle_ms exclude each other: a hang sends nothing at all")
        return cls(
            status=status,
            delay_ms=_number(obj, "delay_ms", 0) or 0,
            hang=hang,
            trickle_ms=trickle_ms,
            malformed=_bool(obj, "malformed", False),
            retry_after=_number(obj, "retry_after", None),
            body=obj.get("body"),
        )

    def to_json(self) -> dict[str, Json]:
        """The JSON object of the control API."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """A scripted response for calls matching ``item_id``, ``attempt``, ``nth`` (None = any), ``times`` times.

    ``nth`` is the call's place among all work calls of the scenario (ledger ``nth``): it lets a
    scenario aim at "the 7th call" before it knows which item ids the target will use.
    """

    id: str
    item_id: str | None = None
    attempt: int | None = None
    nth: int | None = None
    times: int | None = None
    used: int = 0
    response: Response = Response()

    @classmethod
    def from_json(cls, data: Json, *, rule_id: str | None = None) -> Rule:
        """Read a rule; with ``rule_id`` it reads a POST body (no ``used`` yet, and an ``id`` only when
        the caller chose one: ``rule_id`` is the server's id for a body without)."""
        obj = _object(data, "rule")
        allowed = {"item_id", "attempt", "nth", "times", "response", "id"}
        _check_keys(obj, allowed if rule_id else allowed | {"used"}, "rule")
        ident = _str(obj, "id") or rule_id
        if not ident:
            raise ValueError("id: missing")
        return cls(
            id=ident,
            item_id=_str(obj, "item_id"),
            attempt=_int(obj, "attempt", None, minimum=1),
            nth=_int(obj, "nth", None, minimum=1),
            times=_int(obj, "times", None, minimum=1),
            used=_int(obj, "used", 0, minimum=0) or 0,
            response=Response.from_json(obj.get("response") or {}),
        )

    def matches(self, item_id: str | None, attempt: int | None, nth: int | None = None) -> bool:
        """True when this rule applies to the call (every field it gives matches) and has uses left."""
        return (
            (self.item_id is None or self.item_id == item_id)
            and (self.attempt is None or self.attempt == attempt)
            and (self.nth is None or self.nth == nth)
            and (self.times is None or self.used < self.times)
        )

    def to_json(self) -> dict[str, Json]:
        """The JSON object of the control API."""
        return {**asdict(self), "response": self.response.to_json()}


@dataclass(frozen=True, kw_only=True)
class BarrierState:
    """A barrier as the control API reports it: how many calls arrived, how many are held now."""

    id: str
    item_id: str | None
    attempt: int | None
    nth: int | None = None
    arrived: int
    waiting: int
    released: bool
    active: bool

    @classmethod
    def from_json(cls, data: Json) -> BarrierState:
        """Read the control API's barrier object."""
        obj = _object(data, "barrier")
        return cls(
            **{
                f.name: obj[f.name] if f.default is MISSING else obj.get(f.name, f.default)
                for f in fields(cls)
            }
        )

    def to_json(self) -> dict[str, Json]:
        """The JSON object of the control API."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class ProviderConfig:
    """Server-wide settings; ``PUT /_control/config`` changes some, a reset restores these defaults."""

    default_delay_ms: float = 0
    listing_total: int = 20
    listing_never_ending: bool = False
    listing_page_size: int = 5

    def updated(self, data: Json) -> ProviderConfig:
        """A copy with the fields of ``data`` changed; every field is optional."""
        obj = _object(data, "config")
        _check_keys(obj, {f.name for f in fields(self)}, "config")
        return ProviderConfig(
            default_delay_ms=_number(obj, "default_delay_ms", self.default_delay_ms) or 0,
            listing_total=_int(obj, "listing_total", self.listing_total, minimum=0) or 0,
            listing_never_ending=_bool(obj, "listing_never_ending", self.listing_never_ending),
            listing_page_size=_int(obj, "listing_page_size", self.listing_page_size, minimum=1) or 1,
        )

    @classmethod
    def from_json(cls, data: Json) -> ProviderConfig:
        """Read the control API's config object."""
        return cls().updated(data)

    def to_json(self) -> dict[str, Json]:
        """The JSON object of the control API."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    """One call the provider received; the ground truth for "called exactly once"."""

    seq: int
    kind: Kind
    item_id: str | None
    batch_id: str | None
    idempotency_key: str | None
    correlation_id: str | None
    attempt: int | None
    #: 1-based place among the scenario's work (``generate``) calls, in arrival order; None for listing
    nth: int | None = None
    attempt_header: int | None
    cursor: int | None
    arrived_at: float
    arrived_wall: float
    answered_at: float | None = None
    status: int | None = None
    outcome: Outcome | None = None
    rule_id: str | None = None
    barrier_id: str | None = None

    @property
    def in_flight(self) -> bool:
        """True while the call has not ended (no answer, no abort, no reset yet)."""
        return self.answered_at is None

    @classmethod
    def from_json(cls, data: Json) -> LedgerEntry:
        """Read one entry of ``GET /_control/ledger``."""
        obj = _object(data, "ledger entry")
        values: dict[str, Any] = {f.name: obj.get(f.name) for f in fields(cls)}
        values["kind"] = Kind(values["kind"])
        values["outcome"] = None if values["outcome"] is None else Outcome(values["outcome"])
        return cls(**values)

    def to_json(self) -> dict[str, Json]:
        """The JSON object of the control API (enums as their string values)."""
        return asdict(self)
