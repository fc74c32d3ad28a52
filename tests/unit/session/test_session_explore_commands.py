"""The session commands ``chaos-audit explore`` writes into its reproducers, and the checks they run."""

from __future__ import annotations

import pytest

from harness.checkers.result import Validity
from harness.session import view
from harness.session.checks import all_terminal, check_names, idempotent_create
from harness.session.grammar import CommandError, Names, parse

NAMES = Names(services=("api", "db", "worker-1"), links=("worker-1-db",))


@pytest.mark.parametrize("verb", ["retry", "cancel", "retrigger"])
def test_batch_actions_take_a_batch_number(verb: str) -> None:
    cmd = parse(f"{verb} 2", NAMES)
    assert cmd is not None and cmd.verb == verb and cmd.count == 2
    for bad in (f"{verb}", f"{verb} 0", f"{verb} two", f"{verb} 1 2"):
        with pytest.raises(CommandError):
            parse(bad, NAMES)


def test_provider_trickle_and_malformed() -> None:
    trickle = parse("provider trickle 200ms for 3s", NAMES)
    assert (
        trickle is not None and trickle.name == "trickle" and trickle.duration_s == 0.2 and trickle.for_s == 3
    )
    malformed = parse("provider malformed item 3", NAMES)
    assert malformed is not None and malformed.name == "malformed" and malformed.item == 3
    with pytest.raises(CommandError, match="needs a duration"):
        parse("provider trickle", NAMES)


def test_check_names_are_validated() -> None:
    cmd = parse("check duplicate_outputs all_terminal", NAMES)
    assert cmd is not None and cmd.name == "duplicate_outputs all_terminal"
    assert parse("check", NAMES) is not None
    with pytest.raises(CommandError, match="unknown check 'duplicate_output'"):
        parse("check duplicate_output", NAMES)
    assert {"stuck_processing", "exactly_once", "idempotent_create", "all_terminal"} <= set(check_names())


def test_idempotent_create_fails_on_a_second_batch_for_one_key() -> None:
    same = {"batch": 1, "original": "b1", "answered": "b1"}
    assert idempotent_create([same]).valid is Validity.TRUE
    other = {"batch": 2, "original": "b2", "answered": "b9"}
    result = idempotent_create([same, other])
    assert result.valid is Validity.FALSE
    assert result.violations[0].first["answered"] == "b9"


def test_all_terminal_names_the_items_still_running() -> None:
    snap = view.Snapshot(items={"b": {1: "completed", 2: "processing"}}, ids={"i1": ("b", 1), "i2": ("b", 2)})
    result = all_terminal(snap)
    assert result.valid is Validity.FALSE
    assert result.violations[0].first == {"item_id": "i2", "batch_id": "b", "seq": 2, "state": "processing"}
    snap.items["b"][2] = "failed"
    assert all_terminal(snap).valid is Validity.TRUE


def test_provider_baseline_is_a_latency_not_a_fault() -> None:
    cmd = parse("provider baseline 100ms", NAMES)
    assert cmd is not None and cmd.name == "baseline" and cmd.duration_s == 0.1
    for bad in ("provider baseline", "provider baseline 1s for 2s"):
        with pytest.raises(CommandError, match="baseline"):
            parse(bad, NAMES)


def test_load_takes_a_rate_or_stop() -> None:
    cmd = parse("load 2.5", NAMES)
    assert cmd is not None and cmd.verb == "load" and cmd.rate == 2.5
    stop = parse("load stop", NAMES)
    assert stop is not None and stop.rate is None and stop.name == "stop"
    for bad in ("load", "load 0", "load -1", "load nan", "load inf", "load fast", "load 1 2"):
        with pytest.raises(CommandError, match="load"):
            parse(bad, NAMES)


def test_wait_inflight_may_name_the_worker_whose_call_it_waits_for() -> None:
    aimed = parse("wait inflight worker-1 5s", NAMES)
    assert aimed is not None and (aimed.name, aimed.target, aimed.duration_s) == ("inflight", "worker-1", 5.0)
    plain = parse("wait inflight 5s", NAMES)
    assert plain is not None and (plain.name, plain.target, plain.duration_s) == ("inflight", None, 5.0)
    with pytest.raises(CommandError):
        parse("wait inflight worker-9 5s", NAMES)
