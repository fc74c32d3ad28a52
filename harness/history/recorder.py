"""The history (Jepsen's model): one append-only, timestamped record of everything a scenario did and saw.

Every client or service operation lands as an ``invoke`` and later exactly one completion: ``ok``
(it happened), ``fail`` (it certainly did not) or ``info`` (indeterminate: a timeout during a
fault, "maybe happened"). Faults (start / heal), the mock provider's ledger and sampled entity
states are recorded alongside, so checkers can relate "what the clients saw" to "what the
provider received" and "what the database said" on one clock.

That clock is ``time.monotonic()``, the same one the provider's ledger uses (on Linux it is
system-wide, so stamps from different processes compare); ``wall_time(t)`` converts to wall time
for reports. Values are stored as their JSON form, so ``save``/``load`` round-trip exactly.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from harness.history.events import (
    FORMAT_VERSION,
    Event,
    EventKind,
    FaultEvent,
    FaultPhase,
    Json,
    LedgerEvent,
    OpEvent,
    OpType,
    SampleEvent,
    error_text,
    event_from_json,
    event_to_json,
    jsonable,
)
from harness.history.indeterminate import default_indeterminate

_E = TypeVar("_E", OpEvent, FaultEvent, LedgerEvent, SampleEvent)


@runtime_checkable
class _LedgerLike(Protocol):
    """A provider ``LedgerEntry`` (or anything else that knows its JSON form)."""

    def to_json(self) -> dict[str, Json]: ...


@dataclass(frozen=True, kw_only=True)
class OpPair:
    """An invoke and its completion; ``completion`` is None for an op still open at the end."""

    invoke: OpEvent
    completion: OpEvent | None

    @property
    def outcome(self) -> OpType:
        """ok / fail / info; an op that never completed is indeterminate (info)."""
        return OpType.INFO if self.completion is None else self.completion.type

    @property
    def indeterminate(self) -> bool:
        """True when the op may or may not have happened (info, or never completed)."""
        return self.outcome is OpType.INFO


class Op:
    """The handle of an invoked operation: complete it exactly once with ok, fail or info.

    The recorded events are ``invoke`` and, once completed, ``completion``.
    """

    def __init__(self, history: History, invoke: OpEvent) -> None:
        self._history = history
        self.invoke = invoke
        self.completion: OpEvent | None = None

    @property
    def done(self) -> bool:
        """True once ok, fail or info was recorded."""
        return self.completion is not None

    def ok(self, value: Json = None) -> None:
        """It happened; ``value`` is its result (e.g. the batch id the API returned)."""
        self._complete(OpType.OK, value, None)

    def fail(self, error: str | BaseException, value: Json = None) -> None:
        """It certainly did not happen (refused, 4xx validation error...)."""
        self._complete(OpType.FAIL, value, error_text(error))

    def info(self, error: str | BaseException) -> None:
        """Indeterminate: it may have happened (a timeout, a reset connection during a fault)."""
        self._complete(OpType.INFO, None, error_text(error))

    def _complete(self, type_: OpType, value: Json, error: str | None) -> OpEvent:
        return self._history._complete(self, type_, value, error)


class History:
    """Thread-safe, append-only list of events; ``index`` is the position, ``time`` the monotonic stamp.

    ``indeterminate`` decides which exceptions inside ``op(...)`` mean "maybe happened" (info).
    """

    def __init__(self, *, indeterminate: Callable[[BaseException], bool] = default_indeterminate) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._next_op_id = 0
        self.indeterminate = indeterminate
        self.start_monotonic = time.monotonic()
        self.start_wall = time.time()

    # -- recording -------------------------------------------------------------------------
    def invoke(self, process: str, f: str, value: Json = None) -> Op:
        """Record that ``process`` sends ``f(value)``; complete the returned handle once."""
        with self._lock:
            op_id = self._next_op_id
            self._next_op_id += 1
            event = self._append_locked(
                OpEvent, type=OpType.INVOKE, op_id=op_id, process=process, f=f, value=jsonable(value)
            )
        return Op(self, event)

    def _complete(self, op: Op, type_: OpType, value: Json, error: str | None) -> OpEvent:
        inv = op.invoke
        with self._lock:  # check and set under one lock: two threads cannot both complete an op
            if op.completion is not None:
                raise ValueError(
                    f"op {inv.op_id} ({inv.process} {inv.f}) already completed as {op.completion.type}"
                )
            op.completion = self._append_locked(
                OpEvent, type=type_, op_id=inv.op_id, process=inv.process, f=inv.f,
                value=jsonable(value), error=error,
            )  # fmt: skip
            return op.completion

    @contextmanager
    def op(self, process: str, f: str, value: Json = None, *, reraise: bool = False) -> Iterator[Op]:
        """Invoke, run the block, complete: ok on normal exit (unless the block completed it itself).

        An exception the ``indeterminate`` classifier accepts (a client timeout, a reset) records
        info and is swallowed, unless ``reraise``: during a fault it is an expected outcome, not a
        bug. Any other exception records fail and propagates; an interrupt (Ctrl-C) records info
        and propagates.
        """
        handle = self.invoke(process, f, value)
        try:
            yield handle
        except Exception as exc:
            maybe = self.indeterminate(exc)
            if not handle.done and maybe:
                handle.info(exc)
            elif not handle.done:
                handle.fail(exc)
            if reraise or not maybe:
                raise
        except BaseException as exc:
            if not handle.done:
                handle.info(exc)
            raise
        else:
            if not handle.done:
                handle.ok()

    def fault(self, name: str, target: str, phase: FaultPhase | str, **details: Json) -> FaultEvent:
        """Record a fault injected (``start``) or healed (``heal``) on ``target``."""
        with self._lock:
            return self._append_locked(
                FaultEvent, name=name, target=target, phase=FaultPhase(phase), details=jsonable(details)
            )

    def add_ledger(self, entries: Iterable[Mapping[str, Json] | _LedgerLike]) -> list[LedgerEvent]:
        """Copy provider ledger entries in (dicts or ``LedgerEntry``), each stamped with its ``arrived_at``.

        Add each scenario's final ledger once: entries are appended, not merged.
        """
        copies: list[dict[str, Json]] = [
            jsonable(e.to_json() if isinstance(e, _LedgerLike) else dict(e)) for e in entries
        ]
        with self._lock:
            return [self._append_locked(LedgerEvent, e.get("arrived_at"), entry=e) for e in copies]

    def sample(self, entity: str, state: str, **fields: Json) -> SampleEvent:
        """Record that ``entity`` was seen in ``state`` now (with counts or other fields)."""
        with self._lock:
            return self._append_locked(SampleEvent, entity=entity, state=state, fields=jsonable(fields))

    def _append_locked(self, cls: type[_E], stamp: float | None = None, **values: Json) -> _E:
        now = time.monotonic() if stamp is None else float(stamp)
        event = cls(index=len(self._events), time=now, **values)
        self._events.append(event)
        return event

    # -- reading ---------------------------------------------------------------------------
    def events(self, kind: EventKind | str | None = None) -> list[Event]:
        """A snapshot of the events in recording order, optionally of one kind."""
        with self._lock:
            snapshot = list(self._events)
        if kind is None:
            return snapshot
        wanted = EventKind(kind)
        return [e for e in snapshot if e.kind is wanted]

    def ops(self) -> list[OpEvent]:
        """Every invoke and completion, in recording order."""
        return [e for e in self.events() if isinstance(e, OpEvent)]

    def faults(self) -> list[FaultEvent]:
        """Every fault start and heal, in recording order."""
        return [e for e in self.events() if isinstance(e, FaultEvent)]

    def ledger(self) -> list[LedgerEvent]:
        """Every copied ledger entry, in the order added."""
        return [e for e in self.events() if isinstance(e, LedgerEvent)]

    def samples(self) -> list[SampleEvent]:
        """Every state sample, in recording order."""
        return [e for e in self.events() if isinstance(e, SampleEvent)]

    def timeline(self) -> list[Event]:
        """All events ordered by time (ledger entries, stamped by the provider, fall into place)."""
        return sorted(self.events(), key=lambda e: (e.time, e.index))

    def pairs(self) -> list[OpPair]:
        """(invoke, completion) per op in invoke order; an op never completed has ``completion=None``."""
        invokes: dict[int, OpEvent] = {}
        completions: dict[int, OpEvent] = {}
        for e in self.ops():
            (invokes if e.type is OpType.INVOKE else completions)[e.op_id] = e
        return [OpPair(invoke=inv, completion=completions.get(op_id)) for op_id, inv in invokes.items()]

    def wall_time(self, t: float) -> float:
        """Wall-clock time (epoch seconds) of a monotonic stamp of this history."""
        return self.start_wall + (t - self.start_monotonic)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: Path | str) -> None:
        """Write JSON lines: a header (format, start stamps), then one event per line."""
        header = {"kind": "header", "format": FORMAT_VERSION, "start_monotonic": self.start_monotonic,
                  "start_wall": self.start_wall}  # fmt: skip
        lines = [json.dumps(header)] + [json.dumps(event_to_json(e)) for e in self.events()]
        Path(path).write_text("\n".join(lines) + "\n")

    @classmethod
    def load(cls, path: Path | str) -> History:
        """Read a file written by ``save``; new events may be appended to the result."""
        history = cls()
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    if data.get("kind") == "header":
                        if data.get("format") != FORMAT_VERSION:
                            raise ValueError(f"unsupported format {data.get('format')!r}")
                        history.start_monotonic = data["start_monotonic"]
                        history.start_wall = data["start_wall"]
                        continue
                    history._events.append(event_from_json(data))
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}:{number}: not a history line: {exc}") from exc
        history._next_op_id = 1 + max((e.op_id for e in history.ops()), default=-1)
        return history
