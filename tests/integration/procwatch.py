"""What a test run of ``chaos-audit`` left on the machine: its processes (by an environment marker,
which every process it starts inherits) and the TCP ports they listened on, read from /proc; and
whether a process a test holds (SIGSTOP) has stopped and has a signal waiting for it."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path


def marked_processes(marker: str) -> dict[int, list[str]]:
    """argv of every live (non-zombie) process whose environment carries ``marker``."""
    found: dict[int, list[str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() not in Path(f"/proc/{entry.name}/environ").read_bytes():
                continue
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            argv = Path(f"/proc/{entry.name}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] not in ("Z", "X"):
            found[int(entry.name)] = argv
    return found


def _listening_inodes() -> dict[str, int]:
    """socket inode -> port of every TCP socket in LISTEN state (IPv4 and IPv6)."""
    inodes: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":
                inodes[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    return inodes


def listening_ports(pids: list[int]) -> set[int]:
    """The TCP ports the given processes listen on."""
    inodes = _listening_inodes()
    ports: set[int] = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                ports.add(inodes[link[8:-1]])
    return ports


def port_answers(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def ps_alive(pids: list[int]) -> list[str]:
    """``ps`` lines of the given pids that still exist and are not zombies (empty: all gone)."""
    if not pids:
        return []
    done = subprocess.run(
        ["ps", "-o", "pid=,stat=,args=", "-p", ",".join(map(str, pids))], capture_output=True, text=True
    )
    return [line for line in done.stdout.splitlines() if line.split()[1][0] != "Z"]


def stopped(pid: int) -> bool:
    """True once every thread of ``pid`` is in job-control stop (SIGSTOP has fully landed).

    ``kill(SIGSTOP)`` returns before the target has stopped; a test that holds a process to look at
    the world must wait for this state, or the process may still take a step after the look.
    """
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for task in tasks:
        try:
            stat = Path(f"/proc/{pid}/task/{task}/stat").read_text()
        except OSError:
            continue  # a thread that ended meanwhile
        if stat[stat.rfind(")") + 2] != "T":
            return False
    return bool(tasks)


def signal_pending(pid: int, sig: int) -> bool:
    """True when ``sig`` was sent to the process ``pid`` and is not yet delivered (e.g. it is stopped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("ShdPnd:"):
            return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
    return False
