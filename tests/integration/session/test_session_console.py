"""End to end: a person at the ``chaos-audit session`` console, played through a real pty (pexpect).

Each test waits on the console's own output (pexpect timeouts), never on a sleep: the batch, a
killed worker, a partitioned link, the view, heal, check, the report and the ways a session ends.
"""

from __future__ import annotations

import json
import signal
import subprocess

import pexpect
import pytest
from session_console import START_TIMEOUT, SessionEnv, command, wait_prompt

from harness.history import History

pytestmark = pytest.mark.slow

#: the bound of `wait done`: it returns once every item is done (seconds on an idle machine); the bound
#: is only reached by a stack that never finishes, so it leaves room for a loaded machine
DONE_WITHIN_S = 120


def _fault_pairs(env: SessionEnv) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    history = History.load(env.report_dir / "histories" / "SESSION.jsonl")
    started = [(f.name, f.target) for f in history.faults() if f.phase == "start" and f.name != "restart"]
    healed = [(f.name, f.target) for f in history.faults() if f.phase == "heal" and f.name != "restart"]
    return started, healed


def test_a_game_day_at_the_console(session_env: SessionEnv) -> None:
    before = session_env.processes()
    child = session_env.spawn("--seed", "1212")
    try:
        child.expect("seed 1212")
        wait_prompt(child, START_TIMEOUT)
        child.send("kil\t")  # readline completes the verb, then the service name
        child.expect_exact("kill ")
        child.send("worker-9\r")
        child.expect_exact("unknown service 'worker-9' (services: api, db, provider, worker-1, worker-2)")
        wait_prompt(child)
        # the provider holds every call: an item stays processing until the hang is healed, so the
        # wait below sees one however fast or slow the machine is (without it, 20 quick items can
        # all finish before the session samples one in processing)
        command(child, "provider hang", "provider hangs until healed")
        command(child, "start batch 20", r"batch 1 started: \S+ \(20 items\)")
        command(child, "wait processing 30s", "an item is processing")
        command(child, "kill worker-1", "worker-1 killed")
        command(child, "partition worker-2-db", "worker-2-db partitioned")
        assert sorted(session_env.toxics()) == [
            "s1-worker-2-db:partition-downstream",
            "s1-worker-2-db:partition-upstream",
        ]
        command(child, "heal provider", r"healed: provider_hang provider")
        command(child, "provider 500 for 1s", "provider answers 500 until|provider answers 500 for 1s")
        status = command(child, "status", r"faults: [^\r\n]*")
        assert "batch 1" in status and "items: 20" in status
        assert "kill worker-1" in status and "partition worker-2-db" in status
        # the note comes from the session's own clock: the expect only bounds a session that never says it
        command(child, "wait 3s", r"note: provider_outage on provider healed after 1s")
        child.sendline("watch 60s")  # on a terminal the view is redrawn in place until Enter
        child.expect_exact("watching for 60s (Enter stops)")
        child.expect_exact("\x1b[J")  # a redraw: cursor back up, screen cleared below
        command(child, "", r"\(watch stopped\)")
        command(child, "heal all", r"healed: [^\r\n]*kill worker-1 \(restarted\)")
        assert session_env.toxics() == []
        # a wait ends as soon as its condition holds: its bound is room for a loaded machine
        command(child, f"wait done {DONE_WITHIN_S}s", "every item done", timeout=DONE_WITHIN_S + 60)
        # every item is done: a wait for a state none can reach again ends now, saying why, not
        # after its 10 minutes (the expect's bound)
        command(
            child,
            "wait processing 10m",
            "no item will be processing: every item of the session's batches is done",
        )
        # A worker killed at a random moment may have been billed for an item it never recorded: the
        # ledger checkers may then flag a duplicate call (the truth of this game day); the database's
        # impossible states must all be absent after healing.
        check = command(child, "check", r"check: \d+ ok, \d+ violated, 0 unknown")
        for invariant in ("stuck_processing", "processing_with_dead_worker", "illegal_transitions"):
            assert f"{invariant}: ok" in check
        duplicated = "duplicate_successful_calls" in check
        command(child, "report", r"report: \S+audit.html")
        saved = session_env.scratch / "saved.txt"
        command(child, f"save {saved}", r"saved \d+ commands")
        child.sendline("quit")
        child.expect("stack stopped")
        child.expect(pexpect.EOF, timeout=30)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    report = json.loads((session_env.report_dir / "audit.json").read_text())
    (scenario,) = report["scenarios"]
    assert scenario["id"] == "SESSION"
    assert scenario["verdict"] == ("fail" if duplicated else "pass")
    assert len(scenario["checks"]) == 8
    assert "kill worker-1" in scenario["evidence"]["faults"]
    assert "partition worker-2-db" in scenario["evidence"]["faults"]
    html = (session_env.report_dir / "audit.html").read_text()
    assert 'class="timeline"' in html and "partition worker-2-db" in html and "kill worker-1" in html
    started, healed = _fault_pairs(session_env)
    assert ("partition", "worker-2-db") in started
    assert sorted(p for p in started if p[0] != "kill") == sorted(healed)
    assert session_env.processes() == before == []
    script = [line for line in saved.read_text().splitlines() if not line.startswith(("#", "wait "))]
    assert script[:7] == [
        "provider hang",
        "start batch 20",
        "kill worker-1",
        "partition worker-2-db",
        "heal provider",
        "provider 500 for 1s",
        "status",
    ]


@pytest.mark.parametrize("how", ["eof", "ctrl-c", "sigterm"])
def test_every_way_out_heals_and_leaves_nothing(session_env: SessionEnv, how: str) -> None:
    child = session_env.spawn("--seed", "7")
    try:
        wait_prompt(child, START_TIMEOUT)
        command(child, "start batch 10", "batch 1 started")
        command(child, "pause worker-1", "worker-1 paused")
        command(child, "partition worker-2-db", "worker-2-db partitioned")
        command(child, "latency worker-1-provider 200ms", r"\+200 ms latency")
        assert len(session_env.toxics()) == 3
        assert any(state == "T" for _, state in session_env.processes())  # worker-1 is stopped
        if how == "eof":
            child.sendeof()
            child.expect_exact("(EOF)")
        elif how == "ctrl-c":
            child.sendintr()
            child.expect("interrupted by SIGINT")
        else:
            child.kill(signal.SIGTERM)
            child.expect("interrupted by SIGTERM")
        child.expect(r"report: \S+audit.html")
        child.expect("stack stopped")
        child.expect(pexpect.EOF, timeout=30)
    finally:
        child.close(force=True)
    assert child.exitstatus == (0 if how == "eof" else 3)
    started, healed = _fault_pairs(session_env)
    assert (
        sorted(started)
        == sorted(healed)
        == sorted([("pause", "worker-1"), ("partition", "worker-2-db"), ("latency", "worker-1-provider")])
    )
    assert session_env.processes() == []


def test_a_saved_script_replays_the_same_commands(session_env: SessionEnv) -> None:
    script = session_env.scratch / "game-day.txt"
    script.write_text(
        "# chaos-audit session script; seed 4242\n"
        "provider hang   # every call is held: items stay processing until heal provider\n"
        "start batch 6\n"
        "wait processing 30s\n"
        "kill worker-2   # mid-batch\n"
        "heal provider\n"
        "provider hang item 6 for 1s\n"
        "watch 1s\n"
        "restart worker-2\n"
        f"wait done {DONE_WITHIN_S}s\n"
        "check\n"
        "quit\n"
    )
    commands = [line.split("#")[0].strip() for line in script.read_text().splitlines()[1:]]
    first = _replay(session_env, script)
    assert "seed 4242" in first
    assert "\x1b" not in first  # not a terminal: no redraw escape codes, even for watch
    assert [line for line in first.splitlines() if line.startswith("chaos> ")] == [
        f"chaos> {c}" for c in commands
    ]
    saved = session_env.report_dir / "session.txt"
    replayed = [
        line for line in saved.read_text().splitlines() if line and not line.startswith(("#", "wait "))
    ]
    assert replayed == [c for c in commands if c != "quit" and not c.startswith("wait ")]
    # the saved session replays as a script of its own, with the same seed and the same commands
    second = _replay(session_env, saved)
    assert "seed 4242" in second
    again = [line for line in saved.read_text().splitlines() if line and not line.startswith(("#", "wait "))]
    assert again == replayed
    assert session_env.processes() == []


def _replay(env: SessionEnv, script: object) -> str:
    result = subprocess.run(
        env.argv("--script", str(script)),
        env=env.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_bad_input_exits_2_naming_the_field_with_nothing_started(session_env: SessionEnv) -> None:
    bad_script = session_env.scratch / "bad.txt"
    bad_script.write_text("start batch 3\nkill worker-9\n")
    cases = [
        (["--target", str(session_env.scratch / "missing.yaml")], "(field: --target)"),
        (["--script", str(bad_script)], "command 2: unknown service 'worker-9'"),
        (["--script", str(session_env.scratch / "nope.txt")], "(field: --script)"),
        (["--backend", "external", "--defect", "no_fencing"], "(field: --defect)"),
    ]
    for extra, message in cases:
        result = subprocess.run(
            env_argv := session_env.argv(*extra),
            env=session_env.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, (env_argv, result.stdout, result.stderr)
        assert message in result.stderr
        assert "starting the stack" not in result.stdout
    assert session_env.processes() == []


def test_any_fault_of_the_registry_is_injected_by_name_and_healed(session_env: SessionEnv) -> None:
    script = session_env.scratch / "inject.txt"
    script.write_text(
        "inject link_down worker-1-db\n"
        "inject latency worker-2-db ms=150ms stream=downstream\n"
        "status\n"
        "heal worker-1-db\n"
        "quit\n"
    )
    out = _replay(session_env, script)
    assert "link_down worker-1-db: injected; heal worker-1-db removes it" in out
    assert "faults: link_down worker-1-db" in out and "latency worker-2-db" in out
    assert "healed: link_down worker-1-db" in out
    started, healed = _fault_pairs(session_env)
    assert sorted(started) == sorted(healed) == [("latency", "worker-2-db"), ("link_down", "worker-1-db")]
    history = History.load(session_env.report_dir / "histories" / "SESSION.jsonl")
    latency = next(f for f in history.faults() if f.name == "latency")
    assert latency.details == {"ms": 150, "jitter": 0, "stream": "downstream"}
    assert session_env.processes() == []
