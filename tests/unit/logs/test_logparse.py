"""harness.logparse on literal log lines: json, logfmt (and its alias text), regex.

Every format must give the same LogEntry (event, level, item, correlation, time), so a scenario
reading TargetLogs or log_events works unchanged whatever the target logs; lines that are not
records (a traceback, a line cut by SIGKILL) are skipped.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from harness.logparse import parse_line, parse_logfmt, records
from harness.logs import parse_lines
from harness.target.model import Logs

LOGFMT = Logs(
    correlation_field="correlation_id", item_field="item_id", batch_field="batch_id", format="logfmt"
)
PY_LOGGING = (
    r"^(?P<ts>\S+ \S+) (?P<level>[A-Z]+) (?P<event>[\w.]+)(?: item=(?P<item_id>\d+))?(?: cid=(?P<cid>\S+))?"
)


def test_logfmt_reads_the_contract_fields_quotes_escapes_and_bare_keys() -> None:
    line = (
        "ts=2026-12-06T12:00:00Z level=error event=item.failed item_id=5 correlation_id=c1 "
        r'msg="provider 500: \"bad\"\tgot \\n" retried'
    )
    (entry,) = parse_lines("worker-1", line, LOGFMT)
    assert (entry.event, entry.level, entry.item_id, entry.correlation_id) == (
        "item.failed",
        "error",
        "5",
        "c1",
    )
    assert entry.ts == datetime.fromisoformat("2026-12-06T12:00:00+00:00").timestamp()
    assert entry.fields["msg"] == 'provider 500: "bad"\tgot \\n'
    assert entry.fields["retried"] is True  # a bare key is a flag, like JSON true
    assert entry.fields["item_id"] == "5"  # numbers stay text ...
    assert entry.mentions(5) and not entry.mentions(7)  # ... yet name an int id
    assert entry.mentions("PROVIDER 500")


def test_text_is_logfmt() -> None:
    line = "level=info event=item.claimed item_id=7"
    assert parse_line(
        line,
        Logs(correlation_field="correlation_id", item_field="item_id", batch_field="batch_id", format="text"),
    ) == parse_line(line, LOGFMT)


def test_a_prefix_gives_time_and_level_word() -> None:
    text = "\n".join(
        [
            '2026-12-06 12:00:00,123 ERROR event=item.failed item_id=5 msg="provider 500"',
            "[2026-12-06T12:00:01.5+01:00] [worker-1] WARNING event=item.retrying item_id=5",
            "2026-12-06 12:00:02 worker: ok level=info event=item.completed item_id=6",
        ]
    )
    failed, retrying, completed = parse_lines("w", text, LOGFMT)
    assert (failed.event, failed.level, failed.item_id) == ("item.failed", "ERROR", "5")
    assert failed.ts == pytest.approx(datetime(2026, 12, 6, 12, 0, 0, 123000).timestamp())
    assert failed.fields["level"] == "ERROR"  # dict readers (log_events) see it under level_field
    assert (retrying.level, retrying.ts) == (
        "WARNING",
        datetime.fromisoformat("2026-12-06T11:00:01.5+00:00").timestamp(),
    )
    assert completed.level == "info"  # a level key wins over the prefix


def test_a_level_word_far_into_the_prefix_message_is_not_the_level() -> None:
    (entry,) = parse_lines("w", "worker-1 tried to find the error event=lookup", LOGFMT)
    assert entry.level is None


def test_lvl_and_custom_level_field() -> None:
    spec = Logs(
        correlation_field="correlation_id",
        batch_field="batch_id",
        format="logfmt",
        level_field="severity",
        event_field="msg",
        item_field="job",
    )
    (entry,) = parse_lines("api", "lvl=warn msg=slow job=3", spec)
    assert (entry.level, entry.event, entry.item_id) == ("warn", "slow", "3")


@pytest.mark.parametrize(
    "line",
    [
        "Traceback (most recent call last):",  # no key=value at all
        '  File "/app/worker.py", line 3, in run',
        'ts=1 level=error event=item.failed item_id=5 msg="provider 5',  # cut by SIGKILL in a quote
        "ts=1 level=info event=item.claits=2 level=info event=service.started",  # cut, then the restart's line
        'level=info event=x msg="a"b',  # garbage after a quote
        "",
    ],
)
def test_malformed_and_cut_logfmt_lines_are_skipped(line: str) -> None:
    assert parse_line(line, LOGFMT) is None


def test_a_cut_line_does_not_hide_the_next_one() -> None:
    text = 'ts=1 event=item.claimed item_id=5 msg="half\nts=2 level=error event=item.failed item_id=5\n'
    assert [r["event"] for r in records(text, LOGFMT)] == ["item.failed"]


def test_json_is_read_as_before_and_logfmt_is_not_json() -> None:
    text = '{"ts": 1, "level": "error", "event": "item.failed", "item_id": 5}\n{"ts": 2, "event": "cu\n[1, 2]'
    (entry,) = parse_lines(
        "w", text, Logs(correlation_field="correlation_id", item_field="item_id", batch_field="batch_id")
    )
    assert (entry.event, entry.level, entry.item_id, entry.ts) == ("item.failed", "error", "5", 1.0)
    assert (
        parse_lines(
            "w",
            "level=error event=item.failed item_id=5",
            Logs(correlation_field="correlation_id", item_field="item_id", batch_field="batch_id"),
        )
        == []
    )
    assert parse_lines("w", text, LOGFMT) == []  # and JSON is not logfmt


def test_regex_named_groups_are_the_fields() -> None:
    spec = Logs(
        item_field="item_id",
        batch_field="batch_id",
        format="regex",
        pattern=PY_LOGGING,
        correlation_field="cid",
    )
    text = "\n".join(
        [
            "2026-12-06 12:00:00,123 ERROR item.failed item=5 cid=c9",
            "garbage that does not match",
            "2026-12-06 12:00:01,000 INFO batch.done",
        ]
    )
    failed, done = parse_lines("w", text, spec)
    assert (failed.event, failed.level, failed.item_id, failed.correlation_id) == (
        "item.failed",
        "ERROR",
        "5",
        "c9",
    )
    assert failed.ts is not None and failed.mentions(5)
    assert (done.event, done.item_id) == ("batch.done", None)
    assert "item_id" not in done.fields  # a group that did not match is absent, not None


@pytest.mark.parametrize(
    ("value", "term", "named"),
    [("5", 5, True), ("15", 5, False), ("5.0", 5, True), ("provider 500", 500, True), ("500", "50", True)],
)
def test_numeric_text_names_an_int_only_when_equal(value: str, term: str | int, named: bool) -> None:
    (entry,) = parse_lines("w", f'event=x v="{value}"', LOGFMT)
    assert entry.mentions(term) is named


def test_parse_logfmt_returns_the_prefix() -> None:
    assert parse_logfmt("2026-12-06 12:00:00 INFO [pid=3] a=1 b") == (
        "2026-12-06 12:00:00 INFO [pid=3]",
        {"a": "1", "b": True},
    )
