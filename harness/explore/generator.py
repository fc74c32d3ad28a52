"""The generator: a round's schedule from ``(seed, round)`` alone, so a round can be replayed.

Ops come often (a batch about every second): the round's own batches are what its reproducer
will have, so they must keep items in flight whenever a fault may land, without the load's help.
The round starts with ``provider baseline`` (the provider's own latency, 100 ms by default): real
providers take time, and a fault can only hit work that is in flight.
Faults arrive at random moments (about one per ``fault_every_s``), each healed after a bounded
hold (``0.5 s`` to ``max_hold_s``), never two at once on one subject. Workload ops arrive about
every ``op_every_s``: mostly new batches, then retries of failed items, cancels and re-triggers of
an earlier batch with the same idempotency key. An op never lands while a ``core`` fault (API or
database) is active, nor just after one is healed: it is moved to after the window.
Every draw comes from ``random.Random(f"{seed}/{round}")``; the same seed gives the same rounds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from harness.explore import nemesis
from harness.explore.schedule import Fault, Op, Schedule
from harness.target.model import Target

#: a core fault's window is extended by this much: the API serves again after its heal
CORE_MARGIN_S = 1.0


@dataclass(frozen=True, kw_only=True)
class Knobs:
    """The generator's rates and bounds (the defaults suit the reference target's timing)."""

    length_s: float = 15.0
    settle_s: float = 20.0
    #: the quiet period of a round with a provider trickle: a trickling answer outlives its heal
    #: (the provider keeps sending) and only the target's own batch deadline stops it
    trickle_settle_s: float = 35.0
    fault_every_s: float = 3.0
    max_hold_s: float = 4.0
    op_every_s: float = 0.8
    #: drawn uniformly from these: many small batches (a one-item batch rolls up on its item's
    #: outcome alone, the shape of most of the load's), some big ones (items in flight for long)
    batch_sizes: tuple[int, ...] = (1, 1, 2, 3, 5, 8, 12, 20)
    #: the provider's own latency: a fault can only hit work in flight, and a mock provider that
    #: answers in a millisecond leaves almost none (a kill would nearly always land between items)
    baseline_ms: int = 100


def generate(
    target: Target,
    *,
    seed: int,
    round_no: int,
    kinds: tuple[str, ...],
    knobs: Knobs = Knobs(),
    end_checks: tuple[str, ...] = (),
) -> Schedule:
    """Round ``round_no`` of the exploration with ``seed`` over the fault categories ``kinds``."""
    rng = random.Random(f"{seed}/{round_no}")
    faults = _faults(rng, nemesis.candidates(target, kinds), knobs)
    core = [(f.at, f.at + f.hold + CORE_MARGIN_S) for f in faults if f.subject == nemesis.CORE]
    ops = _ops(rng, knobs, core)
    trickles = any(f.inject.startswith(nemesis.TRICKLE) for f in faults)
    return Schedule(
        seed=seed,
        round=round_no,
        length_s=knobs.length_s,
        settle_s=max(knobs.settle_s, knobs.trickle_settle_s) if trickles else knobs.settle_s,
        ops=tuple(ops),
        faults=tuple(faults),
        end_checks=end_checks,
        baseline_ms=knobs.baseline_ms,
    )


def _faults(rng: random.Random, pool: list[nemesis.Candidate], knobs: Knobs) -> list[Fault]:
    if not pool:
        return []
    busy: dict[str, list[tuple[float, float]]] = {}
    out: list[Fault] = []
    t = rng.expovariate(1 / knobs.fault_every_s)
    while t < knobs.length_s - 1.0:
        cand = rng.choice(pool)
        hold = round(rng.uniform(0.5, knobs.max_hold_s), 2) if cand.heal else 0.0
        at = round(t, 2)
        window = (at, at + hold + (CORE_MARGIN_S if cand.subject == nemesis.CORE else 0.2))
        if not any(a < window[1] and window[0] < b for a, b in busy.get(cand.subject, [])):
            inject, heal = nemesis.render(cand, rng)
            out.append(
                Fault(
                    id=len(out),
                    at=at,
                    hold=hold,
                    kind=cand.kind,
                    subject=cand.subject,
                    inject=inject,
                    heal=heal,
                )
            )
            busy.setdefault(cand.subject, []).append(window)
        t += rng.expovariate(1 / knobs.fault_every_s)
    return out


def _ops(rng: random.Random, knobs: Knobs, core: list[tuple[float, float]]) -> list[Op]:
    ops: list[Op] = []
    t = 0.0
    while t < knobs.length_s - 0.5:
        at = _outside(round(t, 2), core)
        if at >= knobs.length_s:
            break
        starts = [o for o in ops if o.verb == "start"]
        verb = (
            "start" if not starts else rng.choices(("start", "retry", "cancel", "retrigger"), (6, 2, 1, 1))[0]
        )
        if verb == "start":
            ops.append(Op(id=len(ops), at=at, verb="start", size=rng.choice(knobs.batch_sizes)))
        else:
            ops.append(Op(id=len(ops), at=at, verb=verb, ref=rng.choice(starts).id))
        t = at + rng.expovariate(1 / knobs.op_every_s)
    return ops


def _outside(t: float, windows: list[tuple[float, float]]) -> float:
    """``t``, or the end of the window it falls in (repeated: windows may chain)."""
    moved = True
    while moved:
        moved = False
        for a, b in windows:
            if a <= t < b:
                t, moved = math.floor(b * 100 + 1) / 100, True  # strictly after the window
    return t
