"""The pacing waits of a session script on a live reference stack: ``wait inflight`` returns once a
provider call is in flight, ``wait hit`` once the active provider fault answered a call, and either
one, at its timeout, lets the script go on (it paces a fault, it is not a check)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.cli_runs import chaos_audit

#: the reference target described by its HTTP API alone (tests/integration/minimal)
HTTP_ONLY = Path(__file__).parents[1] / "minimal" / "target.yaml"

#: ten items on two workers take five rounds of 300 ms calls: once the first call is in flight,
#: calls still arrive after the provider fault is injected, however slow the machine
SCRIPT = """\
provider baseline 300ms
wait inflight 1s
start batch 10
wait inflight 20s
provider 500
wait hit 20s
heal provider
wait hit 1s
heal all
wait done 60s
"""


def _replay(tmp_path: Path, text: str, *args: str) -> str:
    """The script's console output; the script must end without error."""
    script = tmp_path / "script.txt"
    script.write_text(text)
    done = subprocess.run(
        chaos_audit("session", "--script", str(script), "--report-dir", str(tmp_path / "report"), *args),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_pacing_waits_return_on_what_they_wait_for_and_go_on_at_their_timeout(tmp_path: Path) -> None:
    out = _replay(tmp_path, SCRIPT)
    # nothing started yet: the first wait times out and the script goes on
    assert "not reached within 1s: a provider call in flight; going on" in out
    assert "waited: a provider call in flight" in out
    assert "waited: the fault hit" in out
    # no provider fault is active any more: nothing can hit it
    assert "not reached within 1s: the fault hit; going on" in out


#: worker-2 is paused before any work exists, so it holds nothing: worker-1's calls must not
#: satisfy a wait for worker-2's; once resumed, worker-2 takes items (30 items of 300 ms: worker-1 alone needs 9 s) and one of its calls is seen
AIMED = """\
provider baseline 300ms
pause worker-2
start batch 30
wait inflight 20s
wait inflight worker-2 2s
heal worker-2
wait inflight worker-2 30s
heal all
wait done 60s
"""


def test_a_wait_for_one_workers_call_ignores_the_other_workers_calls(tmp_path: Path) -> None:
    out = _replay(tmp_path, AIMED)
    assert "waited: a provider call in flight" in out  # worker-1's
    assert "not reached within 2s: a provider call of worker-2 in flight; going on" in out
    assert "waited: a provider call of worker-2 in flight" in out


#: the same pause, on a target file that does not say who holds an item
UNAIMED = """\
provider baseline 300ms
pause worker-2
start batch 10
wait inflight worker-2 20s
heal all
wait done 60s
"""


def test_where_the_target_does_not_say_who_holds_an_item_any_call_will_do(tmp_path: Path) -> None:
    # worker-2 is paused throughout, so the call that releases the wait is worker-1's: the documented
    # fallback (README, "Faults are paced onto work"), not a wait that could never return. And
    # ``wait done`` returns: with no items query to sample, the session reads the states through
    # the target's API (it used to show "no items yet" forever)
    data = yaml.safe_load(HTTP_ONLY.read_text())
    del data["observe"]["item_fields"]["holder"]
    target = tmp_path / "target.yaml"
    target.write_text(yaml.safe_dump(data))
    out = _replay(tmp_path, UNAIMED, "--target", str(target))
    assert "waited: a provider call of worker-2 in flight" in out
