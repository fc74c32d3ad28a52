"""harness.logs on literal log text: parsing, finding by correlation id, rebuilding a flow."""

from __future__ import annotations

import json
from pathlib import Path

from harness.logs import TargetLogs, event_matcher, parse_lines, rebuild_flow
from harness.target.model import Logs


def _line(ts: float, event: str, cid: str | None, **fields: object) -> str:
    return json.dumps(
        {
            "ts": ts,
            "level": fields.pop("level", "info"),
            "event": event,
            "correlation_id": cid,
            "item_id": fields.pop("item_id", None),
            **fields,
        }
    )


def test_parse_skips_non_json_and_reads_contract_fields() -> None:
    text = "\n".join(
        [
            _line(1.0, "batch.received", "c1"),
            "Traceback (most recent call last):",
            "{broken",
            _line(2.0, "item.failed", "c1", level="error", item_id="i7", error_kind="provider_5xx"),
        ]
    )
    entries = parse_lines(
        "worker-1",
        text,
        Logs(correlation_field="correlation_id", item_field="item_id", batch_field="batch_id"),
    )
    assert [e.event for e in entries] == ["batch.received", "item.failed"]
    failed = entries[1]
    assert (failed.service, failed.level, failed.item_id, failed.correlation_id) == (
        "worker-1",
        "error",
        "i7",
        "c1",
    )
    assert failed.mentions("5XX") and not failed.mentions(500)


def test_numbers_name_a_term_only_when_equal() -> None:
    entry = parse_lines(
        "w",
        _line(1.0, "provider.call", "c", status=500, duration_ms=1500.0),
        Logs(correlation_field="correlation_id", item_field="item_id", batch_field="batch_id"),
    )[0]
    assert entry.mentions(500) and entry.mentions("500")
    assert not entry.mentions(150)


def test_iso_time_and_custom_field_names() -> None:
    spec = Logs(
        batch_field="batch_id",
        correlation_field="trace",
        event_field="msg",
        level_field="severity",
        item_field="job",
    )
    line = json.dumps(
        {"timestamp": "2026-01-01T00:00:01Z", "msg": "done", "trace": "t1", "severity": "WARN", "job": 5}
    )
    entry = parse_lines("api", line, spec)[0]
    assert (entry.event, entry.correlation_id, entry.level, entry.item_id) == ("done", "t1", "WARN", "5")
    assert entry.ts is not None and entry.ts > 1.7e9


def test_by_correlation_merges_services_in_time_order(tmp_path: Path) -> None:
    (tmp_path / "api.log").write_text(
        _line(1.0, "batch.received", "c1") + "\n" + _line(5.0, "x", "c2") + "\n"
    )
    (tmp_path / "w.log").write_text(_line(2.0, "item.claimed", "c1") + "\n")
    logs = TargetLogs(
        {"api": tmp_path / "api.log", "w": tmp_path / "w.log"},
        Logs(correlation_field="correlation_id", item_field="item_id", batch_field="batch_id"),
    )
    assert [(e.service, e.event) for e in logs.by_correlation("c1")] == [
        ("api", "batch.received"),
        ("w", "item.claimed"),
    ]


def test_rebuild_flow_is_causal_and_reports_missing_steps() -> None:
    text = "\n".join(
        [
            _line(10.0, "item.completed", "c"),
            _line(11.0, "batch.received", "c"),
            _line(11.5, "item.claimed", "c"),
            _line(12.0, "item.completed", "c"),
        ]
    )
    steps = rebuild_flow(
        parse_lines(
            "s", text, Logs(correlation_field="correlation_id", item_field="item_id", batch_field="batch_id")
        ),
        [
            ("received", event_matcher("received")),
            ("claimed", event_matcher("claimed")),
            ("stored", event_matcher("stored")),
            ("completed", event_matcher("completed")),
        ],
    )
    got = {s.step: (s.entry.ts if s.entry else None, s.duration_ms) for s in steps}
    assert got["received"][0] == 11.0  # the earlier "completed" line does not precede it causally
    assert got["claimed"] == (11.5, 500.0)
    assert got["stored"] == (None, None)
    assert got["completed"] == (12.0, 500.0)
