"""A scenario's history as a timeline: state lanes per item, fault windows, provider calls and client ops.

This is the data the HTML report draws (``harness.report.svg``): a reader who will not open the
JSON history should still see "worker-1 was killed here, item 8 stayed processing until the lease
expired, then worker-2 called the provider for it again". Lanes come from the sampler's state
samples (``item:<id>`` / ``batch:<id>``); without samples, item lanes are derived from the ledger
so provider calls still show. All times are seconds on the history's monotonic clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.faults.registry import FAULTS, label
from harness.history import FaultEvent, FaultPhase, History, LedgerEvent, OpEvent, OpType, SampleEvent

MAX_ITEM_LANES = 40
MAX_BATCH_LANES = 5
#: polling reads that would only clutter the client lane
POLL_OPS = frozenset({"progress", "items"})


@dataclass(frozen=True, kw_only=True)
class Segment:
    """An entity observed in ``state`` from ``start`` until ``end``."""

    start: float
    end: float
    state: str


@dataclass(frozen=True, kw_only=True)
class Mark:
    """A point or short span on a lane: a provider call or a client op; ``kind`` picks the colour."""

    start: float
    end: float
    kind: str
    label: str


@dataclass(frozen=True, kw_only=True)
class Lane:
    """One row of the timeline."""

    key: str
    label: str
    segments: tuple[Segment, ...] = ()
    marks: tuple[Mark, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Window:
    """A fault from injection to heal; ``healed`` is False when the history ends first."""

    start: float
    end: float
    label: str
    healed: bool = True


@dataclass(frozen=True, kw_only=True)
class Timeline:
    """Everything the SVG renderer needs; ``hidden_items`` counts item lanes left out for size."""

    t0: float
    t1: float
    lanes: tuple[Lane, ...]
    windows: tuple[Window, ...]
    hidden_items: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not self.lanes and not self.windows


def build_timeline(history: History) -> Timeline:
    """The timeline of one history (an empty history gives an empty timeline)."""
    events = history.timeline()
    if not events:
        return Timeline(t0=0.0, t1=1.0, lanes=(), windows=())
    t0, t1 = events[0].time, max(e.time for e in events)
    t1 = max(t1, t0 + 0.001)
    samples = [e for e in events if isinstance(e, SampleEvent)]
    ledger = [e for e in events if isinstance(e, LedgerEvent)]
    batch_lanes, item_lanes, outage = _sample_lanes(samples, t1)
    item_lanes, listing = _add_calls(item_lanes, ledger)
    ordered = sorted(item_lanes.values(), key=lambda lane: lane.key)
    hidden = max(0, len(ordered) - MAX_ITEM_LANES)
    hidden_batches = max(0, len(batch_lanes) - MAX_BATCH_LANES)
    lanes = [*batch_lanes[:MAX_BATCH_LANES], *ordered[:MAX_ITEM_LANES], *listing, *_op_lanes(history.ops())]
    windows = _fault_windows([e for e in events if isinstance(e, FaultEvent)], t1) + outage
    notes = [] if samples else ["no state samples in this history: item lanes show provider calls only"]
    if hidden_batches:
        notes.append(f"{hidden_batches} more batch lanes not drawn (the first {MAX_BATCH_LANES} are)")
    return Timeline(
        t0=t0, t1=t1, lanes=tuple(lanes), windows=tuple(windows), hidden_items=hidden, notes=tuple(notes)
    )


def _sample_lanes(
    samples: Sequence[SampleEvent], t1: float
) -> tuple[list[Lane], dict[str, Lane], list[Window]]:
    """Batch lanes, item lanes (by item id) and windows when the database could not be sampled."""
    by_entity: dict[str, list[SampleEvent]] = {}
    outage: list[Window] = []
    down_since: float | None = None
    for s in samples:
        if s.entity == "db":
            if s.state == "unreachable" and down_since is None:
                down_since = s.time
            elif s.state == "reachable" and down_since is not None:
                outage.append(Window(start=down_since, end=s.time, label="database unreachable"))
                down_since = None
            continue
        by_entity.setdefault(s.entity, []).append(s)
    if down_since is not None:
        outage.append(Window(start=down_since, end=t1, label="database unreachable", healed=False))
    batches: list[Lane] = []
    items: dict[str, Lane] = {}
    batch_order: dict[str, int] = {}  # batches in the order their items were first seen
    for entity, seen in by_entity.items():
        if entity.startswith("item:"):
            batch_order.setdefault(str(seen[0].fields.get("batch_id", "")), len(batch_order))
    for entity, seen in by_entity.items():
        kind, _, ident = entity.partition(":")
        segments = tuple(
            Segment(start=s.time, end=(seen[i + 1].time if i + 1 < len(seen) else t1), state=s.state)
            for i, s in enumerate(seen)
            if i == 0 or s.state != seen[i - 1].state
        )
        segments = _merge(segments)
        if kind == "batch":
            batches.append(Lane(key=entity, label=f"batch {ident[:8]}", segments=segments))
        elif kind == "item":
            fields = seen[-1].fields
            seq, batch = fields.get("seq"), str(fields.get("batch_id", ""))
            order = batch_order.get(batch, 0)
            key = f"{order:06d}:{int(seq):08d}" if isinstance(seq, int) else f"{order:06d}:~{ident}"
            label = f"item {seq}" if seq is not None else f"item {ident[:8]}"
            if len(batch_order) > 1:  # several batches: say which one the item belongs to
                label = f"{batch[:6]} {label}"
            items[ident] = Lane(key=key, label=label, segments=segments)
    return batches, items, outage


def _merge(segments: Sequence[Segment]) -> tuple[Segment, ...]:
    """Extend each segment to the start of the next one (samples only record changes)."""
    return tuple(
        Segment(start=s.start, end=(segments[i + 1].start if i + 1 < len(segments) else s.end), state=s.state)
        for i, s in enumerate(segments)
    )


def _add_calls(items: dict[str, Lane], ledger: Sequence[LedgerEvent]) -> tuple[dict[str, Lane], list[Lane]]:
    """Put each provider call on its item's lane (creating the lane if no sample named the item)."""
    marks: dict[str, list[Mark]] = {}
    listing: list[Mark] = []
    first_seen: dict[str, int] = {}
    for event in ledger:
        entry = event.entry
        mark = _call_mark(entry, event.time)
        item = entry.get("item_id")
        if entry.get("kind") == "listing" or not item:
            listing.append(mark)
            continue
        first_seen.setdefault(str(item), len(first_seen) + 1)
        marks.setdefault(str(item), []).append(mark)
    out = dict(items)
    for item, ms in marks.items():
        lane = out.get(item) or Lane(key=f"~:{first_seen[item]:08d}", label=f"item {item[:8]}")
        out[item] = Lane(key=lane.key, label=lane.label, segments=lane.segments, marks=lane.marks + tuple(ms))
    extra = [Lane(key="listing", label="provider listing", marks=tuple(listing))] if listing else []
    return out, extra


def _call_mark(entry: dict[str, Any], arrived: float) -> Mark:
    answered = entry.get("answered_at")
    end = float(answered) if isinstance(answered, int | float) else arrived
    status, outcome = entry.get("status"), str(entry.get("outcome") or "")
    if isinstance(status, int) and status == 429:
        kind = "call-throttled"
    elif (isinstance(status, int) and status >= 400) or outcome in ("error", "malformed"):
        kind = "call-error"
    elif outcome not in ("", "ok"):
        kind = "call-held"
    else:
        kind = "call-ok"
    label = (
        f"provider call #{entry.get('nth') or entry.get('seq') or '?'} attempt {entry.get('attempt')}: "
        f"{status if status is not None else '-'} {outcome}, key {entry.get('idempotency_key')}"
    )
    return Mark(start=arrived, end=max(end, arrived), kind=kind, label=label)


def _op_lanes(ops: Sequence[OpEvent]) -> list[Lane]:
    """One lane per client process: each op from invoke to completion, coloured by outcome."""
    invokes: dict[int, OpEvent] = {}
    lanes: dict[str, list[Mark]] = {}
    for op in ops:
        if op.f in POLL_OPS:
            continue
        if op.type is OpType.INVOKE:
            invokes[op.op_id] = op
            continue
        inv = invokes.pop(op.op_id, None)
        start = inv.time if inv else op.time
        detail = f" ({op.error})" if op.error else ""
        mark = Mark(
            start=start, end=op.time, kind=f"op-{op.type.value}", label=f"{op.f}: {op.type.value}{detail}"
        )
        lanes.setdefault(op.process, []).append(mark)
    for inv in invokes.values():  # never completed: indeterminate
        lanes.setdefault(inv.process, []).append(
            Mark(start=inv.time, end=inv.time, kind="op-info", label=f"{inv.f}: never completed")
        )
    return [Lane(key=f"op:{p}", label=p, marks=tuple(ms)) for p, ms in lanes.items()]


def _label(start: FaultEvent) -> str:
    return label(start.name, start.target, start.details)


def _ended_by(name: str) -> str | None:
    fault = FAULTS.get(name)
    return fault.ended_by if fault is not None else None


def _fault_windows(faults: Sequence[FaultEvent], t1: float) -> list[Window]:
    """Pair each fault start with its heal; a fault the registry says another ends (a kill: the
    service's next restart) lasts until that one starts on the same target."""
    windows: list[Window] = []
    open_: dict[tuple[str, str], FaultEvent] = {}
    for f in faults:
        key = (f.name, f.target)
        if f.phase is FaultPhase.START:
            for ended in [k for k in open_ if k[1] == f.target and _ended_by(k[0]) == f.name]:
                start = open_.pop(ended)  # e.g. a kill lasts until the service's restart
                windows.append(Window(start=start.time, end=f.time, label=_label(start)))
            open_.setdefault(key, f)
        elif key in open_:
            start = open_.pop(key)
            windows.append(Window(start=start.time, end=f.time, label=_label(start)))
    for start in open_.values():
        windows.append(Window(start=start.time, end=t1, label=_label(start), healed=False))
    return sorted(windows, key=lambda w: w.start)
