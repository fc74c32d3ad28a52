"""Worker ids that are not service names map back to services: fixed ids, and pids in the holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from harness.errors import ConfigError
from harness.target.holders import HolderMap
from harness.target.load import parse_target


def _target(**observe: object):  # type: ignore[no-untyped-def]
    return parse_target(
        {
            "name": "t",
            "services": {
                "api": {"role": "api"},
                "worker-1": {"role": "worker"},
                "worker-2": {"role": "worker"},
            },
            "trigger": {"create": {"method": "POST", "path": "/jobs"}},
            "observe": {"batch": {"path": "/jobs/{batch_id}"}, **observe},
        },
        source="t.yaml",
    )


def test_service_names_and_fixed_ids_map_and_others_stay() -> None:
    holders = HolderMap(_target(holders={"7": "worker-2"}), dict)
    assert holders.service("worker-1") == "worker-1"
    assert holders.service("7") == "worker-2"
    assert holders.service("8") == "8"


def test_a_pid_in_the_holder_names_the_service_whose_process_group_holds_it() -> None:
    # a worker that forks: the child's pid is in the holder, the service knows its group leader
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess,sys; subprocess.run([sys.executable,'-c','import time; time.sleep(30)'])",
        ],
        start_new_session=True,
    )
    try:
        child = None
        for _ in range(200):
            out = subprocess.run(
                ["pgrep", "-P", str(leader.pid)], capture_output=True, text=True
            ).stdout.split()
            if out:
                child = int(out[0])
                break
            subprocess.run(["sleep", "0.02"])
        assert child is not None
        holders = HolderMap(_target(holder_pid=r"\.(?P<pid>\d+)$"), lambda: {"worker-1": leader.pid})
        assert holders.service(f"host.{child}") == "worker-1"
        assert holders.service(f"host.{leader.pid}") == "worker-1"
        assert holders.service("host.1") == "host.1"
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()


@pytest.mark.parametrize(
    ("observe", "field"),
    [({"holders": {"1": "worker-9"}}, "observe.holders"), ({"holder_pid": r"\d+"}, "observe.holder_pid")],
)
def test_a_wrong_mapping_is_a_config_error_naming_the_field(observe: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        _target(**observe)
