"""The live view from literal samples, and a session saved as a script keeps its pauses."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from harness.history import History
from harness.session.engine import Typed
from harness.session.script import script_text
from harness.session.view import ActiveFault, render, snapshot, summary


def _history() -> History:
    history = History()
    history.sample("batch:b-1", "processing")
    for seq, state in enumerate(["completed", "completed", "processing", "queued", "failed"], 1):
        history.sample(f"item:i-{seq}", "queued", seq=seq, batch_id="b-1")
        history.sample(f"item:i-{seq}", state, seq=seq, batch_id="b-1")
    history.sample("db", "unreachable", error="paused")
    return history


def test_the_view_counts_states_draws_the_strip_and_ages_faults() -> None:
    snap = snapshot(_history())
    assert snap.item_states() == {"completed": 2, "processing": 1, "queued": 1, "failed": 1}
    assert sorted(snap.ids_in("completed")) == ["i-1", "i-2"]
    assert snap.item_id("b-1", 3) == "i-3"
    assert not snap.all_done()
    faults = [ActiveFault(name="partition", target="worker-1-db", since=10.0, heals_at=None),
              ActiveFault(name="provider_outage", target="provider", since=12.0, heals_at=20.0)]  # fmt: skip
    lines = render(snap, faults, now=15.0)
    assert lines[0] == "batches: 1  items: 5  db: unreachable"
    assert "completed 2  failed 1  processing 1  queued 1" in lines[1]
    assert lines[2].strip() == "##p.F"
    assert lines[-1] == "faults: partition worker-1-db 5.0s, provider_outage provider 3.0s (heals in 5.0s)"
    assert "\x1b" not in "\n".join(lines)
    assert summary(snap, [], now=0).startswith("[completed=2 failed=1 processing=1 queued=1] faults: none")


def test_a_saved_script_has_the_seed_and_a_wait_for_each_pause() -> None:
    session: Any = SimpleNamespace(
        target=SimpleNamespace(name="reference-target"),
        seed=99,
        typed=[
            Typed(line="start batch 20", started=100.0, ended=100.2),
            Typed(line="kill worker-1", started=103.25, ended=103.3),  # 3 s later: kept as a wait
            Typed(line="status", started=103.35, ended=103.4),  # typing speed: no wait
        ],
    )
    lines = script_text(session).splitlines()
    assert "seed 99" in lines[0]
    assert lines[2:] == ["start batch 20", "wait 3.0s", "kill worker-1", "status"]
