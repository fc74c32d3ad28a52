"""The log side of the target contract: ``logs.pattern`` checked at load time, ``target check``
seeing an event only through the scenarios' reader, and the logfmt parser's properties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.logparse import parse_line
from harness.logs import TargetLogs
from harness.target.check import log_findings
from harness.target.load import load_target, parse_target
from harness.target.model import Logs


def with_logs(**logs: Any) -> dict[str, Any]:
    import yaml

    _, path = load_target(None)
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    data["logs"].update(logs)
    return data


@pytest.mark.parametrize(
    ("logs", "says"),
    [
        ({"format": "regex", "pattern": "(?P<event>[a-z+"}, "not a valid Python regex"),
        ({"format": "regex", "pattern": r"(\S+) (\S+)"}, "no named group"),
        ({"format": "regex"}, "format regex needs a pattern"),
        ({"format": "json", "pattern": r"(?P<event>\S+)"}, "only with format: regex"),
    ],
)
def test_a_bad_pattern_is_a_config_error_naming_logs_pattern(logs: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_target(with_logs(**logs), source="t.yaml")
    assert err.value.field == "logs.pattern"
    assert says in str(err.value) and "logs.pattern" in str(err.value)


@pytest.mark.parametrize("fmt", ["json", "logfmt", "text"])
def test_formats_load(fmt: str) -> None:
    assert parse_target(with_logs(format=fmt), source="t.yaml").logs.format == fmt


def test_an_unknown_format_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        parse_target(with_logs(format="plain"), source="t.yaml")
    assert err.value.field == "logs.format"


# -- target check: "seen" means readable --------------------------------------------------------------
EVENTS = {"claimed": "item.claimed", "failed": "item.failed|item.error", "retrying": "item.retry"}
LOGFMT_LOG = (
    "2026-12-06 12:00:00,123 INFO event=item.claimed item_id=5\n"
    '2026-12-06 12:00:01,000 ERROR event=item.error item_id=5 msg="provider 500"\n'
    'level=info event=note msg="will item.retry later" next=item.retry\n'  # named, but not as the event
)


def findings(tmp_path: Path, text: str, **spec: Any) -> dict[str, tuple[str, str]]:
    (tmp_path / "worker.log").write_text(text)
    logs = TargetLogs(
        {"worker": tmp_path / "worker.log"},
        Logs(
            correlation_field="correlation_id",
            item_field="item_id",
            batch_field="batch_id",
            events=EVENTS,
            **spec,
        ),
    )
    return {f.field: (f.status, f.detail) for f in log_findings(logs)}


def test_check_sees_events_the_reader_parses(tmp_path: Path) -> None:
    got = findings(tmp_path, LOGFMT_LOG, format="logfmt")
    assert got["logs.format"] == ("ok", "3 of 3 lines read as logfmt")
    assert got["logs.events.claimed"][0] == "ok"
    assert got["logs.events.failed"][0] == "ok"  # one of its names
    assert got["logs.events.retrying"][0] == "unverified"  # a grep for =item.retry said "seen"


def test_check_under_the_wrong_format_sees_nothing_and_says_why(tmp_path: Path) -> None:
    got = findings(tmp_path, LOGFMT_LOG)  # format: json, the default
    assert got["logs.format"] == ("unverified", "none of 3 lines reads as json: no log event can be seen")
    assert got["logs.events.claimed"] == (
        "unverified",
        "not seen in this quiet run (no line reads as logs.format json)",
    )


def test_check_with_no_log_at_all(tmp_path: Path) -> None:
    assert findings(tmp_path, "")["logs.format"][0] == "unverified"


# -- properties of the logfmt parser ----------------------------------------------------------------
KEYS = st.from_regex(r"[a-z_][a-z0-9_.]{0,8}", fullmatch=True)
VALUES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=20)  # fmt: skip


def render(value: str) -> str:
    """A logfmt writer: quote when needed, escaping backslashes and quotes."""
    if value and not any(c.isspace() or c in '="\\' for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, min_size=1, max_size=6))
def test_logfmt_round_trips(pairs: dict[str, str]) -> None:
    line = " ".join(f"{k}={render(v)}" for k, v in pairs.items())
    rec = parse_line(
        line,
        Logs(
            correlation_field="correlation_id",
            item_field="item_id",
            batch_field="batch_id",
            format="logfmt",
            level_field="level",
        ),
    )
    assert rec is not None
    expected = dict(pairs)
    if "level" not in expected and "lvl" in expected:
        expected["level"] = expected["lvl"]
    assert rec == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120), st.sampled_from(["json", "logfmt", "regex"]))
def test_no_line_raises(line: str, fmt: str) -> None:
    pattern = r"(?P<level>[A-Z]+) (?P<event>\S+)" if fmt == "regex" else None
    spec = Logs.model_validate({"format": fmt, "pattern": pattern})
    rec = parse_line(line, spec)
    assert rec is None or isinstance(rec, dict)


# -- log_events, the path TEST-RR-SL02 reads ---------------------------------------------------------
def test_log_events_reads_a_logfmt_service(tmp_path: Path) -> None:
    """SL02 reported "item 5 not logged" for this log: log_events parsed JSON only."""
    from types import SimpleNamespace
    from typing import cast

    from harness.scenario import ScenarioRun
    from harness.target.observe import Observer
    from harness.workload import log_events

    log = tmp_path / "worker.log"
    log.write_text(LOGFMT_LOG + "2026-12-06 12:00:02,000 ERROR event=item.failed item_id=15\n")
    target = parse_target(with_logs(format="text", item_field="item_id", events=EVENTS), source="t.yaml")
    used: set[str] = set()
    stack = SimpleNamespace(target=target, log_path=lambda service: log)
    audit = cast(
        ScenarioRun,
        SimpleNamespace(stack=stack, used=used, observe=Observer(target, lambda: None, used=used)),
    )
    logged = log_events(audit, "worker", item="5")
    assert [(e["event"], e["level"]) for e in logged] == [("item.claimed", "INFO"), ("item.error", "ERROR")]
    assert [e["item_id"] for e in log_events(audit, "worker", event="failed")] == ["5", "15"]
