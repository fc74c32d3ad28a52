"""The generator: the same seed and round give the same schedule; faults respect their subjects."""

from __future__ import annotations

from harness.explore import nemesis
from harness.explore.generator import CORE_MARGIN_S, Knobs, generate
from harness.session.grammar import Names, parse
from harness.target.load import load_target

TARGET, _ = load_target(None)
ALL = nemesis.CATEGORIES


def test_same_seed_same_schedule() -> None:
    one = generate(TARGET, seed=42, round_no=3, kinds=ALL)
    two = generate(TARGET, seed=42, round_no=3, kinds=ALL)
    assert one == two
    assert one.steps() == two.steps()


def test_other_seed_or_round_other_schedule() -> None:
    base = generate(TARGET, seed=42, round_no=3, kinds=ALL).steps()
    assert generate(TARGET, seed=43, round_no=3, kinds=ALL).steps() != base
    assert generate(TARGET, seed=42, round_no=4, kinds=ALL).steps() != base


def test_every_line_is_a_session_command() -> None:
    names = Names(services=tuple(TARGET.services), links=tuple(TARGET.links))
    for round_no in range(1, 30):
        schedule = generate(TARGET, seed=7, round_no=round_no, kinds=ALL, knobs=Knobs(length_s=30))
        for _, line in schedule.steps():
            assert parse(line, names) is not None, line
        for line in schedule.ending():
            parse(line, names)


def test_faults_only_from_the_chosen_kinds_and_each_healed() -> None:
    for round_no in range(1, 20):
        schedule = generate(TARGET, seed=5, round_no=round_no, kinds=("provider", "pause"))
        assert {f.kind for f in schedule.faults} <= {"provider", "pause"}
        for fault in schedule.faults:
            assert fault.heal is not None and 0.5 <= fault.hold <= Knobs().max_hold_s


def test_no_two_faults_on_one_subject_and_no_op_inside_a_core_fault() -> None:
    for round_no in range(1, 40):
        s = generate(
            TARGET, seed=11, round_no=round_no, kinds=ALL, knobs=Knobs(length_s=40, fault_every_s=1.5)
        )
        for a in s.faults:
            for b in s.faults:
                if a.id < b.id and a.subject == b.subject:
                    assert a.at + a.hold <= b.at or b.at + b.hold <= a.at, (a, b)
        core = [(f.at, f.at + f.hold + CORE_MARGIN_S) for f in s.faults if f.subject == nemesis.CORE]
        for op in s.ops:
            assert not any(start <= op.at < end for start, end in core), (op, core)


def test_batch_actions_name_a_started_batch() -> None:
    schedule = generate(TARGET, seed=3, round_no=1, kinds=ALL, knobs=Knobs(length_s=30))
    started = 0
    for _, line in schedule.steps():
        verb, *args = line.split()
        if verb == "start":
            started += 1
        elif verb in ("retry", "cancel", "retrigger"):
            assert 1 <= int(args[0]) <= started
