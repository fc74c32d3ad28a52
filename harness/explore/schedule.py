"""A round's schedule: workload ops and faults at reproducible moments, as session command lines.

Why session lines and not objects with an ``apply()``: the minimal failing schedule must be a
``chaos-audit session --script`` file that replays it, so the explore run and the reproducer run
exactly the same lines through the same engine. A line is run when the previous one has finished
and the gap before it has passed (``wait`` in a script), so pacing survives the replay.

Ops that act on a batch (retry, cancel, retrigger) name the op that started it (``ref``), not a
number: the shrinker can remove a start, and the number each remaining op prints is computed
from the starts that are left.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from harness.explore.nemesis import pacing

#: workload verbs; ``start`` creates a batch of ``size`` items, the others act on batch ``ref``
OP_VERBS = ("start", "retry", "cancel", "retrigger")
#: item states a fault can bring about that a heal may wait for (see :meth:`Schedule.with_effects`)
EFFECT_STATES = ("failed", "dead", "timeout")
#: how long a heal waits for its fault's effect before the replay gives up on it (a state wait:
#: the script stops there, it did not reproduce)
EFFECT_TIMEOUT = "20s"
#: which fault line a step is: ("inject" | "heal", the fault's id), None for ops and pacing
Tag = tuple[str, int] | None


@dataclass(frozen=True, kw_only=True)
class Op:
    """One workload op at ``at`` seconds into the round."""

    id: int
    at: float
    verb: str
    size: int = 0  #: start: items in the batch
    ref: int | None = None  #: retry / cancel / retrigger: the id of the start op of its batch


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One fault: injected at ``at``, healed ``hold`` seconds later (``heal`` None: a one-shot)."""

    id: int
    at: float
    hold: float
    kind: str  #: the ``--faults`` category: kill, pause, partition, latency, provider, db
    subject: str  #: what the fault holds exclusively (a service, a link's client, core, provider)
    inject: str
    heal: str | None
    #: an item state the heal waits for (``wait STATE``): what the fault had brought about when it
    #: was healed in the replay that failed, so a slower replay holds it until the same effect
    until: str | None = None

    @property
    def label(self) -> str:
        return self.inject


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """A round: its ops and faults, how long it lasts, and how long the quiet period may take."""

    seed: int
    round: int
    length_s: float
    settle_s: float
    ops: tuple[Op, ...]
    faults: tuple[Fault, ...]
    end_checks: tuple[str, ...] = field(default=())
    #: the provider's own latency for the round (``provider baseline``), so items are in flight
    baseline_ms: int = 0
    #: how long the end-state checks wait after the quiet period: only in a replay of a round
    #: whose violation is an item stuck past a threshold (``stuck_processing``): the quiet period
    #: ends once the round's own batches are terminal, and the load's item that got stuck late in
    #: the round has not been stuck long enough yet (the exploration saw it a round later)
    linger_s: float = 0.0
    #: new one-item batches per second for the whole round (``load RATE``): only in a replay of a
    #: round whose violation needed the exploration's load (the exploration runs its load itself)
    load_rps: float = 0.0

    def events(self) -> list[tuple[float, str]]:
        """(time, line) of every op and every fault's injection and heal (each with its pacing
        line, :func:`~harness.explore.nemesis.pacing`), in time order; a heal sorts before an
        injection at the same moment (a subject is never faulted twice)."""
        return [(t, line) for t, line, _ in self.tagged_events()]

    def tagged_events(self) -> list[tuple[float, str, Tag]]:
        """:meth:`events`, each with the fault line it is (:data:`Tag`)."""
        starts = [o for o in self.ops if o.verb == "start"]
        number = {o.id: n for n, o in enumerate(starts, 1)}
        out: list[tuple[float, int, str, Tag]] = []
        if self.load_rps:
            out.append((0.0, -2, f"load {self.load_rps:g}", None))
        if self.baseline_ms:
            out.append((0.0, -1, f"provider baseline {self.baseline_ms}ms", None))
        for op in self.ops:
            if op.verb == "start":
                out.append((op.at, 2, f"start batch {op.size}", None))
            elif op.ref in number:
                out.append((op.at, 2, f"{op.verb} {number[op.ref]}", None))
        for f in self.faults:
            before, before_heal = pacing(f.kind, f.subject)
            if before is not None:  # the same moment and rank: the stable sort keeps it just before
                out.append((f.at, 1, before, None))
            out.append((f.at, 1, f.inject, ("inject", f.id)))
            if f.heal is not None:
                healed = min(f.at + f.hold, self.length_s)
                if before_heal is not None:
                    out.append((healed, 0, before_heal, None))
                if f.until is not None:
                    out.append((healed, 0, f"wait {f.until} {EFFECT_TIMEOUT}", None))
                out.append((healed, 0, f.heal, ("heal", f.id)))
        return [(t, line, tag) for t, _, line, tag in sorted(out, key=lambda e: (e[0], e[1]))]

    def steps(self) -> list[tuple[float, str]]:
        """(gap before the line, line): what the runner and a script run, one after the other."""
        return [(gap, line) for gap, line, _ in self.tagged_steps()]

    def tagged_steps(self) -> list[tuple[float, str, Tag]]:
        """:meth:`steps`, each with the fault line it is (:data:`Tag`)."""
        out: list[tuple[float, str, Tag]] = []
        previous = 0.0
        for t, line, tag in self.tagged_events():
            out.append((max(0.0, t - previous), line, tag))
            previous = max(previous, t)
        return out

    def with_effects(self, observed: Mapping[tuple[str, int], Counter[str]]) -> Schedule:
        """This schedule with each heal waiting for its fault's effect, as a failing replay saw it.

        ``observed``: the item states just before each fault line ran (:data:`Tag` -> counts). A
        state of :data:`EFFECT_STATES` absent when the fault was injected and present when it was
        healed is what the fault brought about (an outage held until an item exhausted its tries).
        A replay on a slower machine would heal after the same seconds but before that effect, and
        not fail: the heal waits for the state instead (an observed point, not a longer sleep).
        """
        faults = []
        for f in self.faults:
            before, at_heal = observed.get(("inject", f.id)), observed.get(("heal", f.id))
            if f.heal is not None and f.until is None and before is not None and at_heal is not None:
                new = [s for s in EFFECT_STATES if not before[s] and at_heal[s]]
                f = replace(f, until=new[0]) if new else f
            faults.append(f)
        return replace(self, faults=tuple(faults))

    def ending(self) -> list[str]:
        """The lines after the round: heal everything, the quiet period, the end-state checks."""
        lines = ["heal all", f"wait done {self.settle_s:g}s"]
        if self.linger_s:
            lines.append(f"wait {self.linger_s:g}s")
        if self.end_checks:
            lines.append("check " + " ".join(self.end_checks))
        return lines

    # -- reductions (the shrinker's moves) ---------------------------------------------------------
    def without_faults(self, ids: set[int]) -> Schedule:
        return replace(self, faults=tuple(f for f in self.faults if f.id not in ids))

    def without_ops(self, ids: set[int]) -> Schedule:
        """Drop ops; an op on a batch whose start is dropped goes too."""
        kept = [o for o in self.ops if o.id not in ids]
        starts = {o.id for o in kept if o.verb == "start"}
        return replace(self, ops=tuple(o for o in kept if o.verb == "start" or o.ref in starts))

    def truncated(self, at: float) -> Schedule:
        """Only what happens before ``at`` (a fault injected before it keeps its heal)."""
        ops = tuple(o for o in self.ops if o.at <= at)
        faults = tuple(f for f in self.faults if f.at <= at)
        end = max([at, *(f.at + f.hold for f in faults)])
        return replace(self, ops=ops, faults=faults, length_s=round(min(self.length_s, end), 2))

    def scaled(self, factor: float) -> Schedule:
        """Every moment and hold times ``factor`` (shorter when < 1)."""
        ops = tuple(replace(o, at=round(o.at * factor, 2)) for o in self.ops)
        faults = tuple(
            replace(f, at=round(f.at * factor, 2), hold=round(f.hold * factor, 2)) for f in self.faults
        )
        return replace(self, ops=ops, faults=faults, length_s=round(self.length_s * factor, 2))

    def smaller_batches(self) -> Schedule:
        """Every batch half as big (at least one item)."""
        ops = tuple(replace(o, size=max(1, o.size // 2)) if o.verb == "start" else o for o in self.ops)
        return replace(self, ops=ops)

    @property
    def items(self) -> int:
        return sum(o.size for o in self.ops if o.verb == "start")

    def then(self, later: Schedule, gap_s: float) -> Schedule:
        """This round, then ``later`` from ``gap_s`` after this one ends, as one schedule (``later``'s
        seed, round, quiet period and checks): a violation seen in a round may have been caused by
        the round before it on the same stack (an item a killed worker left ``processing`` is stuck
        only once the threshold has passed, in the next round's checks). Each fault of this round
        keeps its heal inside this round, as it had; ids are renumbered to stay unique."""
        shift = self.length_s + gap_s
        op_base = max((o.id for o in self.ops), default=-1) + 1
        fault_base = max((f.id for f in self.faults), default=-1) + 1
        first = tuple(replace(f, hold=round(min(f.hold, self.length_s - f.at), 2)) for f in self.faults)
        ops = self.ops + tuple(
            replace(
                o,
                id=o.id + op_base,
                at=round(o.at + shift, 2),
                ref=None if o.ref is None else o.ref + op_base,
            )
            for o in later.ops
        )
        faults = first + tuple(
            replace(f, id=f.id + fault_base, at=round(f.at + shift, 2)) for f in later.faults
        )
        return replace(later, ops=ops, faults=faults, length_s=round(shift + later.length_s, 2))

    def loaded(self, rate: float) -> Schedule:
        """The same round with ``rate`` new batches per second of load through it."""
        return replace(self, load_rps=rate)

    def describe(self) -> str:
        load = f", under load {self.load_rps:g}/s" if self.load_rps else ""
        return f"{len(self.faults)} faults, {len(self.ops)} ops, {self.items} items, {self.length_s:g}s{load}"
