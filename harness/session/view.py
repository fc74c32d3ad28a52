"""The live view: batches and items by state, a one-character-per-item strip, active faults with age.

States come from the history's ``sample`` events (what the state sampler saw in the target's
database), not from the target's API: the sampler connects to the database directly, so the view
keeps working while the API's own database link is partitioned. The view is plain text with no
escape codes; only ``watch`` on a terminal redraws it in place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.faults.registry import label
from harness.history import History

#: one character per item state in the strip (unknown states show as ``?``)
STRIP = {
    "queued": ".",
    "processing": "p",
    "retrying": "r",
    "completed": "#",
    "failed": "F",
    "partial": "%",
    "cancelled": "x",
    "timeout": "T",
    "dead": "D",
}
TERMINAL = frozenset({"completed", "failed", "cancelled", "timeout", "dead"})
STRIP_WIDTH = 60


@dataclass(frozen=True, kw_only=True)
class ActiveFault:
    """A fault not yet healed: what, on which target, since when (monotonic), when it heals by itself."""

    name: str
    target: str
    since: float
    heals_at: float | None = None


@dataclass(kw_only=True)
class Snapshot:
    """The latest sampled state of every batch (in order of appearance) and of its items by seq."""

    batches: dict[str, str] = field(default_factory=dict)
    items: dict[str, dict[int, str]] = field(default_factory=dict)
    ids: dict[str, tuple[str, int]] = field(default_factory=dict)  #: item id -> (batch id, seq)
    db: str = "reachable"

    def item_states(self) -> Counter[str]:
        return Counter(s for by_seq in self.items.values() for s in by_seq.values())

    def ids_in(self, state: str) -> list[str]:
        """Ids of the items whose latest state is ``state``."""
        return [i for i, (batch, seq) in self.ids.items() if self.items[batch].get(seq) == state]

    def item_id(self, batch: str, seq: int) -> str | None:
        return next((i for i, key in self.ids.items() if key == (batch, seq)), None)

    def all_done(self) -> bool:
        """True when at least one item exists and every item is in a terminal state."""
        states = self.item_states()
        return bool(states) and all(s in TERMINAL for s in states)


def snapshot(history: History) -> Snapshot:
    """Replay the history's samples into the latest state of each entity."""
    snap = Snapshot()
    for sample in history.samples():
        kind, _, ident = sample.entity.partition(":")
        if kind == "batch":
            snap.batches[ident] = sample.state
        elif kind == "item":
            batch = str(sample.fields.get("batch_id", "?"))
            seq = sample.fields.get("seq")
            snap.batches.setdefault(batch, "?")
            by_seq = snap.items.setdefault(batch, {})
            key = seq if isinstance(seq, int) else snap.ids.get(ident, (batch, len(by_seq) + 1))[1]
            by_seq[key] = sample.state
            snap.ids[ident] = (batch, key)
        elif sample.entity == "db":
            snap.db = sample.state
    return snap


def render(snap: Snapshot, faults: Sequence[ActiveFault], now: float) -> list[str]:
    """The full view, one string per line."""
    total = sum(len(v) for v in snap.items.values())
    lines = [f"batches: {len(snap.batches)}  items: {total}  db: {snap.db}"]
    for n, (batch, state) in enumerate(snap.batches.items(), 1):
        by_seq = snap.items.get(batch, {})
        counts = Counter(by_seq.values())
        parts = "  ".join(f"{s} {c}" for s, c in sorted(counts.items()))
        lines.append(f"  batch {n} {batch[:8]}  {state:<10}  {parts}")
        strip = "".join(STRIP.get(by_seq[seq], "?") for seq in sorted(by_seq))
        for start in range(0, len(strip), STRIP_WIDTH):
            lines.append(f"    {strip[start : start + STRIP_WIDTH]}")
    if total:
        lines.append("  strip: " + " ".join(f"{c}={s}" for s, c in STRIP.items()))
    lines.append(faults_line(faults, now))
    return lines


def faults_line(faults: Sequence[ActiveFault], now: float) -> str:
    """``faults: partition worker-1-db 8.2s, provider_outage provider 2.0s (heals in 8.0s)``."""
    if not faults:
        return "faults: none active"
    parts = []
    for f in faults:
        extra = f" (heals in {max(0.0, f.heals_at - now):.1f}s)" if f.heals_at is not None else ""
        parts.append(f"{label(f.name, f.target)} {now - f.since:.1f}s{extra}")
    return "faults: " + ", ".join(parts)


def summary(snap: Snapshot, faults: Sequence[ActiveFault], now: float) -> str:
    """One line for after each command: item counts by state and the active faults."""
    counts = snap.item_states()
    states = " ".join(f"{s}={c}" for s, c in sorted(counts.items())) or "no items yet"
    return f"[{states}] {faults_line(faults, now)}"
