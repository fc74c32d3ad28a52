"""A history becomes lanes (item states), fault windows and provider-call marks; the SVG draws them."""

from __future__ import annotations

from pathlib import Path

from harness.history import History
from harness.report.svg import render_timeline
from harness.report.timeline import MAX_ITEM_LANES, build_timeline

DATA = Path(__file__).parent / "data"


def test_the_hand_written_partition_history_has_lanes_windows_and_calls() -> None:
    timeline = build_timeline(History.load(DATA / "histories" / "TEST-RR-006.jsonl"))
    labels = [lane.label for lane in timeline.lanes]
    assert labels == ["batch 0f6d7a4c", "item 1", "item 2", "item 3", "client-1"]
    item2 = timeline.lanes[2]
    assert [s.state for s in item2.segments] == ["queued", "processing", "completed"]
    assert item2.segments[0].end == item2.segments[1].start  # lanes are continuous
    assert len(item2.marks) == 2  # called twice: by worker-1 (held) and worker-2 after the lease expired
    assert [(w.label, w.healed) for w in timeline.windows] == [("partition worker-1-db", True)]
    assert [m.label.split(":")[0] for m in timeline.lanes[-1].marks] == ["create_batch"]  # polling left out
    assert timeline.t0 == 5000.010 and timeline.notes == ()


def test_a_kill_lasts_until_the_restart_and_an_unhealed_fault_until_the_end() -> None:
    h = History()
    h.fault("kill", "worker-1", "start")
    h.fault("restart", "worker-1", "start")
    h.fault("restart", "worker-1", "heal")
    h.fault("pause", "db", "start")
    windows = build_timeline(h).windows
    assert [(w.label, w.healed) for w in windows] == [
        ("kill worker-1", True), ("restart worker-1", True), ("pause db", False)]  # fmt: skip


def test_without_samples_lanes_come_from_the_ledger_and_a_db_outage_is_a_window() -> None:
    h = History()
    h.add_ledger([{"item_id": "abc", "arrived_at": 1.0, "answered_at": 1.2, "status": 500, "outcome": "ok"},
                  {"kind": "listing", "arrived_at": 1.5, "status": 200, "outcome": "ok"}])  # fmt: skip
    h.sample("item:zzz", "processing", seq=1, batch_id="b")
    h.sample("db", "unreachable", error="refused")
    h.sample("db", "reachable")
    timeline = build_timeline(h)
    kinds = {lane.label: [m.kind for m in lane.marks] for lane in timeline.lanes}
    assert kinds["item abc"] == ["call-error"] and kinds["provider listing"] == ["call-ok"]
    assert [w.label for w in timeline.windows] == ["database unreachable"]


def test_many_items_are_capped_and_counted() -> None:
    h = History()
    for seq in range(MAX_ITEM_LANES + 5):
        h.sample(f"item:{seq}", "queued", seq=seq, batch_id="b")
    timeline = build_timeline(h)
    assert len(timeline.lanes) == MAX_ITEM_LANES and timeline.hidden_items == 5
    assert timeline.notes == ()


def test_svg_has_one_group_per_lane_tooltips_and_no_external_reference() -> None:
    svg = render_timeline(
        build_timeline(History.load(DATA / "histories" / "TEST-RR-006.jsonl")), scenario_id="X<1>"
    )
    assert svg.startswith('<svg class="timeline" data-scenario="X&lt;1&gt;"')
    assert svg.count('<g class="lane"') == 5 and svg.count('class="fault"') == 1
    assert "<title>item 2: processing from +0.142s" in svg
    assert "href" not in svg and "src=" not in svg


def test_an_empty_history_still_renders() -> None:
    svg = render_timeline(build_timeline(History()), scenario_id="E")
    assert "no lanes" in svg and svg.endswith("</svg>")


def test_items_of_several_batches_say_their_batch_and_keep_first_seen_order() -> None:
    h = History()
    h.sample("item:x2", "queued", seq=1, batch_id="bbbbbb-2")
    h.sample("item:x1", "queued", seq=1, batch_id="aaaaaa-1")
    assert [lane.label for lane in build_timeline(h).lanes] == ["bbbbbb item 1", "aaaaaa item 1"]
