"""``load RATE`` in a session on a live reference stack: Locust keeps creating batches through the
API while the script goes on, ``wait done`` waits for the session's own batches only, ``load stop``
says what was sent, and nothing of Locust outlives the session."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harness.process.pidfiles import PidFiles
from tests.cli_runs import chaos_audit

#: two workers finish 4 calls of 500 ms per second and the load adds 5 batches per second: the
#: backlog only grows, so ``wait done`` returns only because it waits for the session's own batch
SCRIPT = """\
provider baseline 500ms
start batch 2
load 5
wait done 60s
load stop
load 2
check
"""


def test_load_runs_beside_the_script_and_goes_with_the_session(tmp_path: Path) -> None:
    script = tmp_path / "load.txt"
    script.write_text(SCRIPT)
    argv = chaos_audit("session", "--script", str(script), "--report-dir", str(tmp_path / "report"))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert "load: 5 new batches per second" in out
    assert "waited: every item done" in out
    sent = re.search(r"load stopped: (\d+) requests \((\d+) failed\)", out)
    assert sent is not None, out
    assert int(sent.group(1)) >= 1 and int(sent.group(2)) == 0
    # the second load is still running at the end of the script: the session's end stops it
    left = list(PidFiles.default().state_dir.glob(f"{proc.pid}-locust-*.json"))
    assert left == [], f"the session's Locust records were left: {left}"
    assert not list(Path(PidFiles.default().state_dir).glob(f"{proc.pid}-*.json"))
