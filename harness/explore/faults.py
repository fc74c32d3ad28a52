"""A thin adapter over the fault injector (``harness.faults.injector.Faults``), as the session owns it.

Explore injects through session command lines, so the only things it asks the injector directly
are "what is active" (the progress display) and "heal everything" (the end of a round, Ctrl-C).
Both go through here: when faults become registry values (name, inject, heal), only this module
changes.
"""

from __future__ import annotations

from harness.session.engine import Session


def active(session: Session) -> list[str]:
    """``name target`` of every open fault, plus services left killed (healed by a restart)."""
    return [f"{n} {t}" for n, t in session.faults.open_faults()] + [f"kill {s}" for s in session.killed]


def heal_everything(session: Session) -> list[str]:
    """Heal every open fault and restart killed services; errors returned, not raised."""
    from harness.session.grammar import CommandError, Names, parse

    cmd = parse("heal all", Names(services=tuple(session.target.services), links=tuple(session.target.links)))
    assert cmd is not None
    try:
        session.run(cmd)
    except CommandError as exc:
        return [str(exc), *session.faults.heal_all()]
    return []
