"""Helpers to drive the real ``chaos-audit session`` process: a pty (pexpect) or a pipe, with a marked environment.

Every process the session starts inherits ``CHAOS_TEST_MARKER`` (PostgreSQL, the proxy, the
provider, the target's API and workers), so "nothing left behind" is checked by scanning /proc for
the marker, before and after, instead of trusting the session's own bookkeeping.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pexpect
import requests

PROMPT = "chaos> "
START_TIMEOUT = 90  # stack cold start on a loaded 2-core machine, with margin


@dataclass
class SessionEnv:
    """Where one session's files go and how its processes are recognised."""

    marker: str
    scratch: Path
    report_dir: Path
    env: dict[str, str]

    def argv(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "harness.cli", "session", "--report-dir", str(self.report_dir), *extra]

    def spawn(self, *extra: str) -> pexpect.spawn:
        """The session on a pty (an interactive terminal); output is logged for failing tests."""
        argv = self.argv(*extra)
        child = pexpect.spawn(
            argv[0], argv[1:], env=self.env, encoding="utf-8", timeout=60, dimensions=(50, 200)
        )
        child.logfile_read = sys.stdout
        return child

    def processes(self) -> list[tuple[int, str]]:
        """(pid, state) of every live process carrying this session's marker."""
        return marked_processes(self.marker)

    def proxy_api(self) -> str | None:
        """The URL of the session's fault proxy, read from its command line."""
        for pid, _ in self.processes():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            except OSError:
                continue
            if "proxy" in argv and "--port" in argv:
                return f"http://127.0.0.1:{argv[argv.index('--port') + 1]}"
        return None

    def leftovers(self) -> list[str]:
        """Files a finished session left in its temp dir (caches shared by runs are meant to stay)."""
        caches = ("chaos-audit-pgdata-", "chaos-audit-pgbin-")
        left = [p.name for p in self.scratch.iterdir() if p.name != "state" and not p.name.startswith(caches)]
        pidfiles = [p.name for p in (self.scratch / "state").rglob("*.json")]
        return sorted(left + pidfiles)

    def toxics(self) -> list[str]:
        api = self.proxy_api()
        if api is None:
            return []
        proxies = requests.get(f"{api}/proxies", timeout=2).json()
        return [f"{name}:{t['name']}" for name, p in proxies.items() for t in p["toxics"]]


def marked_processes(marker: str) -> list[tuple[int, str]]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() not in Path(f"/proc/{entry.name}/environ").read_bytes():
                continue
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        state = stat[stat.rfind(")") + 2]
        if state != "Z":
            found.append((int(entry.name), state))
    return found


def new_session_env(tmp_path: Path) -> SessionEnv:
    """A scratch dir PostgreSQL (running as nobody) can read, and a fresh marker."""
    # Not under tmp_path: pytest's base temp dir is private to root, and PostgreSQL runs as nobody.
    scratch = Path(tempfile.mkdtemp(prefix="chaos-audit-session-test-", dir="/tmp"))
    os.chmod(scratch, 0o755)
    marker = f"chaos-audit-session-{uuid.uuid4()}"
    env = {
        **os.environ,
        "TMPDIR": str(scratch),
        "CHAOS_AUDIT_PG_DIR": str(scratch),
        "CHAOS_AUDIT_STATE_DIR": str(scratch / "state"),
        "CHAOS_TEST_MARKER": marker,
        "TERM": "xterm",
    }
    return SessionEnv(marker=marker, scratch=scratch, report_dir=tmp_path / "report", env=env)


def cleanup_session_env(env: SessionEnv) -> None:
    """Only after a test failed half-way: never leave processes running, remove the scratch dir."""
    for pid, _ in marked_processes(env.marker):
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    shutil.rmtree(env.scratch, ignore_errors=True)


def wait_prompt(child: pexpect.spawn, timeout: float = 60) -> None:
    child.expect_exact(PROMPT, timeout=timeout)


def command(child: pexpect.spawn, line: str, expect: str, *, timeout: float = 60) -> str:
    """Type ``line``, wait for ``expect`` (a regex) in its output, then for the next prompt; the output."""
    child.sendline(line)
    child.expect(expect, timeout=timeout)
    head = f"{child.before}{child.after}"
    wait_prompt(child, timeout)
    return head + str(child.before)
