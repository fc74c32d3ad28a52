"""The session's command grammar: what parses, what is refused and how the refusal reads."""

from __future__ import annotations

import pytest

from harness.session.grammar import CommandError, Names, completions, help_text, parse, parse_duration
from harness.session.script import load_script

NAMES = Names(
    services=("db", "provider", "api", "worker-1", "worker-2"),
    links=("api-db", "worker-1-db", "worker-1-provider"),
)


@pytest.mark.parametrize(("text", "seconds"), [("200ms", 0.2), ("10s", 10.0), ("2m", 120.0), ("3", 3.0)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_the_issue_s_commands_parse() -> None:
    assert parse("start batch 20", NAMES).count == 20
    assert parse("kill worker-1", NAMES).name == "worker-1"
    assert parse("restart db", NAMES).verb == "restart"
    latency = parse("latency worker-1-provider 200ms", NAMES)
    assert (latency.name, latency.duration_s) == ("worker-1-provider", 0.2)
    outage = parse("provider 500 for 10s", NAMES)
    assert (outage.name, outage.count, outage.for_s) == ("status", 500, 10.0)
    hang = parse("provider hang item 8", NAMES)
    assert (hang.name, hang.item, hang.for_s) == ("hang", 8, None)
    assert parse("heal", NAMES).name == "all"
    assert parse("heal worker-1-db", NAMES).name == "worker-1-db"
    assert parse("exit", NAMES).verb == "quit"
    assert parse("  # a comment", NAMES) is None
    assert parse("wait done 1m", NAMES).duration_s == 60.0
    hit = parse("wait hit 5s", NAMES)
    assert (hit.verb, hit.name, hit.duration_s) == ("wait", "hit", 5.0)
    assert parse("wait inflight", NAMES).name == "inflight"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("kill worker-9", "unknown service 'worker-9' (services: api, db, provider, worker-1, worker-2)"),
        (
            "partition worker-9-db",
            "unknown link 'worker-9-db' (links: api-db, worker-1-db, worker-1-provider)",
        ),
        ("latency worker-1-db fast", "bad duration 'fast' (expected e.g. 200ms, 10s, 2m)"),
        ("start batch zero", "bad batch size 'zero' (expected a whole number)"),
        ("provider 700", "provider status 700: expected an HTTP status 100-599"),
        ("provider hang item 2 call 3", "provider: give item N or call N, not both"),
        ("frobnicate", "unknown command 'frobnicate'"),
        ("status now", "status takes no arguments"),
        ("wait forever 2s", "wait: unknown state 'forever'"),
    ],
)
def test_refusals_say_what_would_work(line: str, message: str) -> None:
    with pytest.raises(CommandError) as err:
        parse(line, NAMES)
    assert message in str(err.value)


def test_completion_offers_verbs_then_names() -> None:
    assert completions("ki", NAMES) == ["kill"]
    assert completions("kill w", NAMES) == ["worker-1", "worker-2"]
    assert completions("partition worker-1-", NAMES) == ["worker-1-db", "worker-1-provider"]
    assert "batch" in completions("start ", NAMES)
    assert completions("heal a", NAMES) == ["all", "api", "api-db"]


def test_help_lists_every_command_and_one_usage() -> None:
    text = help_text()
    for verb in ("status", "kill", "partition", "latency", "provider", "heal", "check", "report", "quit"):
        assert f"\n  {verb}" in text
    assert help_text("latency").startswith("latency LINK DURATION")


def test_script_files_keep_commands_and_the_seed(tmp_path) -> None:
    path = tmp_path / "game-day.txt"
    path.write_text("# chaos-audit session script; seed 77\n\nstart batch 5  # the workload\nwait 1s\n")
    script = load_script(path)
    assert script.lines == ("start batch 5", "wait 1s")
    assert script.seed == 77
