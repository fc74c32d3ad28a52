"""The nemesis: which faults a target allows, per ``--faults`` category, as session command lines.

Each candidate fault knows its *subject*: what it holds exclusively while active. A service's
faults and the faults on the links it opens share the service as subject (a worker cut from the
database is not also killed: healing one would restart a process whose link is still cut). The
API and the database share ``core``: the API answers its readiness only with a database, so a
killed API healed while the database is down could never come back. The generator never puts two
faults on one subject at once, and keeps workload ops out of ``core`` faults (a create the API
cannot answer would stop a replayed script).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.target.model import Target

#: the ``--faults`` categories, in the order of the help text
CATEGORIES = ("kill", "pause", "partition", "latency", "provider", "db")
CORE = "core"
#: provider misbehaviours: session ``provider`` arguments
PROVIDER_FAULTS = ("500", "503", "429", "hang", "trickle 200ms", "malformed")
#: a trickle keeps an item processing until the target's batch deadline (see checks.py)
TRICKLE = "provider trickle"
#: pacing (session ``wait inflight|hit``, see :func:`pacing`): how long a fault waits for work
PACING_TIMEOUT = "5s"


def pacing(kind: str, subject: str) -> tuple[str | None, str | None]:
    """The pacing lines of a fault: (before its injection, before its heal).

    A fault on an idle moment tests nothing, and one that met work by luck of timing may miss it
    when replayed on a fresh stack (the reason a found schedule would not reproduce). So a worker
    is killed or paused only once a provider call of the item it holds is in flight (its work is
    then mid-call, where crashes hurt; any worker's call would leave the victim idle as often as
    not, and the replay would miss what the exploration hit), and a provider fault is healed only
    once it has answered a call. Both waits give up after ``PACING_TIMEOUT`` and the schedule goes
    on.
    """
    if kind in ("kill", "pause") and subject != CORE:  # the subject is the worker: its own call
        return f"wait inflight {subject} {PACING_TIMEOUT}", None
    if kind == "provider":
        return None, f"wait hit {PACING_TIMEOUT}"
    return None, None


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A fault the target allows; ``inject``/``heal`` may hold ``{ms}`` (drawn per fault)."""

    kind: str
    subject: str
    inject: str
    heal: str | None


def candidates(target: Target, kinds: tuple[str, ...]) -> list[Candidate]:
    """Every fault of the chosen categories that this target allows."""
    out: list[Candidate] = []
    roles = {n: s.role for n, s in target.services.items()}
    for name, svc in target.services.items():
        if svc.role not in ("api", "worker"):
            continue
        subject = CORE if svc.role == "api" else name
        if "kill" in kinds and "kill" in svc.faults:
            out.append(Candidate(kind="kill", subject=subject, inject=f"kill {name}", heal=f"heal {name}"))
        if "kill" in kinds and "restart" in svc.faults:
            out.append(Candidate(kind="kill", subject=subject, inject=f"restart {name}", heal=None))
        if "pause" in kinds and "pause" in svc.faults:
            out.append(Candidate(kind="pause", subject=subject, inject=f"pause {name}", heal=f"heal {name}"))
    for name, link in target.links.items():
        subject = CORE if roles.get(link.source) == "api" or roles.get(link.to) == "api" else link.source
        if "partition" in kinds:
            out.append(
                Candidate(kind="partition", subject=subject, inject=f"partition {name}", heal=f"heal {name}")
            )
        if "latency" in kinds:
            out.append(
                Candidate(
                    kind="latency", subject=subject, inject=f"latency {name} {{ms}}ms", heal=f"heal {name}"
                )
            )
    if "provider" in kinds and target.services_with_role("provider"):
        for what in PROVIDER_FAULTS:
            out.append(
                Candidate(
                    kind="provider", subject="provider", inject=f"provider {what}", heal="heal provider"
                )
            )
    for name in target.services_with_role("db") if "db" in kinds else []:
        faults = target.services[name].faults
        if "kill" in faults:
            out.append(Candidate(kind="db", subject=CORE, inject=f"kill {name}", heal=f"heal {name}"))
        if "pause" in faults:
            out.append(Candidate(kind="db", subject=CORE, inject=f"pause {name}", heal=f"heal {name}"))
        if "restart" in faults:
            out.append(Candidate(kind="db", subject=CORE, inject=f"restart {name}", heal=None))
    return out


def render(candidate: Candidate, rng: random.Random) -> tuple[str, str | None]:
    """The candidate's lines with its parameters drawn (latency: 100-800 ms)."""
    ms = rng.choice((100, 200, 400, 800))
    return candidate.inject.replace("{ms}", str(ms)), candidate.heal
