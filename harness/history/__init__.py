"""The history (Jepsen's model): every op, fault, provider call and state sample of a scenario, in order.

See :mod:`harness.history.recorder` for how events are recorded and read, :mod:`.events` for
their shape, and :mod:`.indeterminate` for which client errors mean "maybe happened".
"""

from harness.history.events import (
    Event,
    EventKind,
    FaultEvent,
    FaultPhase,
    Json,
    LedgerEvent,
    OpEvent,
    OpType,
    SampleEvent,
    event_from_json,
    event_to_json,
)
from harness.history.indeterminate import default_indeterminate
from harness.history.recorder import History, Op, OpPair

__all__ = [
    "Event",
    "EventKind",
    "FaultEvent",
    "FaultPhase",
    "History",
    "Json",
    "LedgerEvent",
    "Op",
    "OpEvent",
    "OpPair",
    "OpType",
    "SampleEvent",
    "default_indeterminate",
    "event_from_json",
    "event_to_json",
]
