"""Ports for the servers of an audit: below the ephemeral range, and never one a live sibling holds."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.process import ports
from harness.process.pidfiles import STATE_DIR_ENV

CLAIM_MANY = """
import sys
from harness.process.ports import free_port
print(" ".join(str(free_port()) for _ in range(int(sys.argv[1]))), flush=True)
sys.stdin.read()  # stay alive (and keep the claims) until told
"""


@pytest.fixture(autouse=True)
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "state"))
    return tmp_path / "state" / "ports"


def test_a_port_is_outside_the_ephemeral_range_free_and_claimed(registry: Path) -> None:
    low, _ = ports.ephemeral_range()
    port = ports.free_port()
    assert ports.LOWEST <= port < low
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # free: a server can bind it
    claim = json.loads((registry / str(port)).read_text())
    assert claim["pid"] == os.getpid()


def test_live_siblings_never_get_the_same_port(registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "LOWEST", ports.ephemeral_range()[0] - ports.MIN_RANGE)  # a small range
    env = {**os.environ, STATE_DIR_ENV: str(registry.parent)}
    siblings = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM_MANY, "300"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        claimed = [set(map(int, s.stdout.readline().split())) for s in siblings if s.stdout]
        assert [len(c) for c in claimed] == [300, 300, 300]
        assert not (claimed[0] & claimed[1] or claimed[0] & claimed[2] or claimed[1] & claimed[2])
        mine = {ports.free_port() for _ in range(50)}
        assert not mine & set().union(*claimed)
    finally:
        for s in siblings:
            s.communicate("")


def test_a_dead_claimers_ports_are_taken_over(registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    low = ports.ephemeral_range()[0] - ports.MIN_RANGE
    monkeypatch.setattr(ports, "LOWEST", low)
    registry.mkdir(parents=True)
    for port in range(low, low + ports.MIN_RANGE):  # every port held by a process that is gone
        (registry / str(port)).write_text(json.dumps({"pid": 999999999, "start": 1}))
    assert low <= ports.free_port() < low + ports.MIN_RANGE


def test_a_tuned_machine_without_room_below_the_range_gets_the_kernels_choice(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (ports.LOWEST + 10, 65000))
    assert ports.free_port() > 0
    assert not registry.exists()  # nothing claimed: the kernel chose
