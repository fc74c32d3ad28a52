"""A service's resident memory, read where the backend can: TEST-RR-Q03's "worker memory stays bounded".

A process the harness started is read in ``/proc/<pid>/status``. A service of a running stack is
read through its handle's ``memory_kb`` command, written by whoever knows where the service runs
(``ps -o rss= -p $(systemctl show -p MainPID --value worker@1)`` over ssh, a ``kubectl top`` line):
its output's first number is the resident memory in kB. Without either, the memory is unknown.
"""

from __future__ import annotations

import re
from pathlib import Path

_NUMBER = re.compile(r"\d+")


def vm_rss_kb(pid: int | None) -> int | None:
    """Resident memory of a process (``VmRSS`` in ``/proc/<pid>/status``), None if unreadable."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def parse_kb(output: str) -> int | None:
    """The first whole number of a command's output (kB), None when it printed none."""
    match = _NUMBER.search(output)
    return int(match.group()) if match else None
