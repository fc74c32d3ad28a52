"""The history's vocabulary: event kinds, op types, fault phases, and the four frozen event values.

Every event has ``index`` (its position in the history) and ``time`` (``time.monotonic()``, the
clock of the provider's ledger too). Each serialises to one JSON object with its ``kind`` first,
and reads back to an equal value: the saved history is the history.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

#: Any JSON value (what ``json.loads`` returns).
Json = Any
FORMAT_VERSION = 1


class EventKind(enum.StrEnum):
    """What an event records."""

    OP = "op"  #: an invoke or completion of an operation
    FAULT = "fault"  #: a fault was injected or healed
    LEDGER = "ledger"  #: a call the mock provider received (copied from its ledger)
    SAMPLE = "sample"  #: an observed state of an entity (a batch, an item, a queue) at a moment


class OpType(enum.StrEnum):
    """Where an operation stands: invoked, then exactly one of ok / fail / info."""

    INVOKE = "invoke"  #: the operation was sent; its outcome is not known yet
    OK = "ok"  #: it certainly happened
    FAIL = "fail"  #: it certainly did not happen
    INFO = "info"  #: indeterminate: it may or may not have happened


class FaultPhase(enum.StrEnum):
    """Which end of a fault's life an event marks."""

    START = "start"  #: the fault was injected
    HEAL = "heal"  #: the fault was healed


def jsonable(value: Json) -> Json:
    """The value as it will be saved (a snapshot; tuples become lists, odd types their ``str``)."""
    return json.loads(json.dumps(value, default=str))


def error_text(error: str | BaseException) -> str:
    """How an error is stored: a string as is, an exception as ``Type: message``."""
    return error if isinstance(error, str) else f"{type(error).__name__}: {error}"


@dataclass(frozen=True, kw_only=True)
class OpEvent:
    """One invoke or completion; ``op_id`` ties a completion to its invoke."""

    kind: ClassVar[EventKind] = EventKind.OP
    index: int
    time: float
    type: OpType
    op_id: int
    process: str
    f: str
    value: Json = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class FaultEvent:
    """A fault injected or healed on ``target``, with whatever the fault wants to report."""

    kind: ClassVar[EventKind] = EventKind.FAULT
    index: int
    time: float
    name: str
    target: str
    phase: FaultPhase
    details: dict[str, Json] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class LedgerEvent:
    """One provider ledger entry as the provider reported it; ``time`` is its ``arrived_at``."""

    kind: ClassVar[EventKind] = EventKind.LEDGER
    index: int
    time: float
    entry: dict[str, Json]


@dataclass(frozen=True, kw_only=True)
class SampleEvent:
    """The state of ``entity`` (e.g. ``batch:42``) observed at ``time``, with counts or other fields."""

    kind: ClassVar[EventKind] = EventKind.SAMPLE
    index: int
    time: float
    entity: str
    state: str
    fields: dict[str, Json] = field(default_factory=dict)


Event = OpEvent | FaultEvent | LedgerEvent | SampleEvent
_EVENT_TYPES: dict[EventKind, type[Event]] = {
    t.kind: t for t in (OpEvent, FaultEvent, LedgerEvent, SampleEvent)
}


def event_to_json(event: Event) -> dict[str, Json]:
    """One event as a JSON object (``kind`` first, enums as their values)."""
    return {"kind": event.kind.value, **asdict(event)}


def event_from_json(data: Mapping[str, Json]) -> Event:
    """Read back what ``event_to_json`` wrote; raises ``ValueError`` on an unknown kind or field."""
    kind = EventKind(data["kind"])
    cls = _EVENT_TYPES[kind]
    names = {f.name for f in fields(cls)}
    extra = set(data) - names - {"kind"}
    if extra:
        raise ValueError(f"{kind} event: unknown field(s) {', '.join(sorted(extra))}")
    values = {k: v for k, v in data.items() if k in names}
    if cls is OpEvent:
        values["type"] = OpType(values["type"])
    elif cls is FaultEvent:
        values["phase"] = FaultPhase(values["phase"])
    return cls(**values)
