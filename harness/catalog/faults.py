"""The faults each scenario may inject: registry names (``harness.faults.registry``) and roles.

Why declared rather than read from the scenarios' source: ``target check`` must say, before
anything runs, which services a scenario acts on through a fault handle (on a running stack each
such service needs ``services.<name>.handle``), and a pattern over source code misses a fault made
two helpers deep. What a scenario really injected is recorded as it runs (``Faults.used``, and a
``hold`` for each worker its ``stack.start`` left out); one it does not declare here is reported
as undeclared use, like a contract field missing from its ``needs``, so the two cannot drift.

``hold worker``: a scenario that starts fewer workers than the target has gets the others held
down on a running stack (through their handles), so every scenario choosing its workers lists it.
Provider rules and barriers a scenario scripts for its workload (``audit.provider.rule``) are not
faults of the registry and are not listed.
"""

from __future__ import annotations

from harness.faults.registry import FaultUse


def _uses(*words: str) -> tuple[FaultUse, ...]:
    """``"kill worker"`` -> FaultUse("kill", "worker"); ``"provider_outage"``: no role; a trailing
    ``?``: optional (the scenario does without it)."""
    return tuple(FaultUse.parse(w) for w in words)


_HOLD = "hold worker"
_CRASH_WORKER = ("kill worker", "restart worker")
_CRASH_API = ("kill api", "restart api")
#: TEST-RR-S02 runs each failure mode it can and only notes the others (its checks are invariants)
_S02_MODES = ("pause worker?", "kill worker?", "restart worker?", "latency db?", "kill api?", "restart api?")

#: scenario id -> the faults it may inject
SCENARIO_FAULTS: dict[str, tuple[FaultUse, ...]] = {
    "TEST-RR-001": _uses(_HOLD),
    "TEST-RR-002": _uses(_HOLD),
    "TEST-RR-003": _uses(_HOLD, "pause api"),
    "TEST-RR-004": _uses(_HOLD, *_CRASH_WORKER),
    "TEST-RR-005": _uses(_HOLD, "pause worker"),
    "TEST-RR-006": _uses(_HOLD, "partition db"),
    "TEST-RR-007": _uses(_HOLD, "restart api"),
    "TEST-RR-008": _uses(_HOLD),
    "TEST-RR-T01": _uses(_HOLD),
    "TEST-RR-T02": _uses(_HOLD),
    "TEST-RR-P01": _uses(_HOLD),
    "TEST-RR-P02": _uses(_HOLD, "provider_outage"),
    "TEST-RR-R01": _uses(_HOLD),
    "TEST-RR-R02": _uses(_HOLD),
    "TEST-RR-R03": _uses(_HOLD),
    "TEST-RR-RE01": _uses(_HOLD, "kill worker"),
    "TEST-RR-RE02": _uses(_HOLD, "latency db", *_CRASH_API),
    "TEST-RR-SL01": _uses(_HOLD),
    "TEST-RR-SL02": _uses(_HOLD),
    "TEST-RR-Q01": _uses(_HOLD, "queue_store_kill"),
    "TEST-RR-Q02": _uses(_HOLD, "pause worker", *_CRASH_WORKER),
    "TEST-RR-Q03": _uses(_HOLD, "pause worker"),
    "TEST-RR-S01": _uses(_HOLD, "pause worker", *_CRASH_WORKER, "latency db", *_CRASH_API),
    "TEST-RR-S02": _uses(_HOLD, *_S02_MODES),
    "TEST-RR-O01": _uses(_HOLD, *_CRASH_WORKER),
    "TEST-RR-O02": _uses(_HOLD),
    "TEST-WR-001": _uses(_HOLD),
    "TEST-WR-002": _uses(_HOLD),
    "TEST-WR-003": _uses(_HOLD),
    "TEST-WR-004": _uses(_HOLD, *_CRASH_WORKER, *_CRASH_API),
    "TEST-WR-005": _uses(_HOLD, *_CRASH_WORKER, *_CRASH_API),
    "TEST-WR-006": _uses(_HOLD, "kill worker"),
    "TEST-WR-007": _uses(_HOLD, "pause worker"),
    "TEST-WR-008": _uses(_HOLD),
}


def faults_of(scenario_id: str) -> tuple[FaultUse, ...] | None:
    """The faults ``scenario_id`` may inject; None for a scenario outside the catalogue."""
    return SCENARIO_FAULTS.get(scenario_id)
