"""Ports for the servers an audit starts, that nothing else takes before they bind.

A port chosen now is bound later: PostgreSQL, the proxy, the provider and the target's services
get theirs on the command line and need a moment to start. Asking the kernel for "any free port"
(``bind(0)``) hands out a port of the ephemeral range, which is also where every outgoing
connection takes its source port: with several stacks side by side (``--jobs``), thousands of
client connections, and sibling workers choosing ports at the same moment, a chosen port can be
taken in that moment, and the server fails to start. So ports are chosen below the ephemeral
range (``/proc/sys/net/ipv4/ip_local_port_range``; outgoing connections never use those) and
claimed in a registry beside the pid files, one file per port naming the claiming process: no
live harness process is given a port another live one holds. A claim is kept for the claimer's
life (its services restart on the same port); a dead claimer's claims are taken over. Where the
range below the ephemeral one is too small (a tuned machine), the kernel's choice is used.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from harness.process.pidfiles import STATE_DIR_ENV, is_same_process, process_start_time

#: the lowest port handed out (above the well-known and most registered service ports)
LOWEST = 20000
#: fewer ports than this below the ephemeral range: use the kernel's choice instead
MIN_RANGE = 2000
_TRIES = 200
_rng = random.SystemRandom()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of source ports for outgoing connections (Linux default 32768-60999)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _state_dir() -> Path:
    env = os.environ.get(STATE_DIR_ENV)
    base = Path(env) if env else Path(tempfile.gettempdir()) / f"chaos-audit-state-{os.getuid()}"
    folder = base / "ports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def _registry() -> Iterator[Path]:
    """The claims folder, locked against other processes claiming at the same moment."""
    folder = _state_dir()
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        os.close(fd)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _held_by_live(claim: Path) -> bool:
    try:
        owner = json.loads(claim.read_text())
        return is_same_process(int(owner["pid"]), owner["start"])
    except (OSError, ValueError, KeyError, TypeError):
        return False  # none, or unreadable (a claimer killed mid-write)


def kernel_port() -> int:
    """A port the kernel says is free now (of the ephemeral range)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_port() -> int:
    """A TCP port on 127.0.0.1, free now, claimed for this process, outside the ephemeral range."""
    low, high = LOWEST, ephemeral_range()[0]
    if high - low < MIN_RANGE:
        return kernel_port()
    me = {"pid": os.getpid(), "start": process_start_time(os.getpid())}
    with _registry() as folder:
        for _ in range(_TRIES):
            port = _rng.randrange(low, high)
            claim = folder / str(port)
            if _held_by_live(claim) or not _bindable(port):
                continue
            claim.write_text(json.dumps(me))
            return port
    return kernel_port()  # the range is crowded: fall back rather than fail the audit
