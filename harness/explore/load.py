"""Sustained load with Locust, as subprocesses: one headless run, or a master and N workers.

``--load RATE`` runs ``ceil(RATE)`` users, each at ``RATE / users`` requests/s (Locust's
``constant_throughput``), so the total is RATE. ``--load-workers N`` runs Locust's distributed mode
on this machine: a master (``--master --expect-workers N``) and N ``--worker`` processes sharing the
users. Workers on other machines join the same master with::

    python -m locust -f harness/explore/locustfile.py --worker --master-host <this host>

(with the same ``LOAD_*`` environment; the master prints how many workers it expects; it listens
on ``--master-bind-port``, 5557 by default). Stats come back in ``load_stats.json`` (the totals,
written as Locust stops) and ``load_stats.csv`` (every few seconds) in the report folder;
requests that fail while a fault is active are the point, not a finding.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.process.pidfiles import PidFiles
from harness.target.model import Target

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STOP_TIMEOUT_S = 15


@dataclass(frozen=True, kw_only=True)
class LoadStats:
    requests: int
    failures: int

    def line(self) -> str:
        return f"{self.requests} requests ({self.failures} failed)"


class Load:
    """A running Locust load (started by :meth:`start`, stopped by :meth:`stop`)."""

    def __init__(self, target: Target, api_url: str, *, rate: float, workers: int, out_dir: Path) -> None:
        self.target = target
        self.api_url = api_url
        self.rate = rate
        self.workers = workers
        self.out_dir = out_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self._pidfiles = PidFiles.default()
        self._keys: list[str] = []  #: pid records: a killed run's Locust is reaped by the next one
        self.csv_prefix = out_dir / "load"

    def env(self, users: int) -> dict[str, str]:
        trig = self.target.trigger
        body = json.dumps({"count": 1, "priority": 0})
        if trig.create.body is not None:  # the target's own create body with n=1
            from harness.stack.render import render_value

            body = json.dumps(
                render_value(trig.create.body, {"n": 1, "priority": 0}, where="trigger.create.body")
            )
        return {
            **os.environ,
            "LOAD_METHOD": trig.create.method,
            "LOAD_PATH": trig.create.path,
            "LOAD_BODY": body,
            "LOAD_KEY_HEADER": trig.idempotency_header or "",
            "LOAD_PER_USER": f"{self.rate / users:g}",
        }

    def argv(self, users: int) -> list[list[str]]:
        """The command lines: one headless run, or the master then each worker."""
        base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
        run = [
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "--host",
            self.api_url,
            "--csv",
            str(self.csv_prefix),
            "--json-file",  # the exact totals, written when it stops (the CSV lags by seconds)
            str(self.csv_prefix.with_name("load_stats")),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ]
        if not self.workers:
            return [[*base, *run]]
        master = [
            *base,
            *run,
            "--master",
            "--expect-workers",
            str(self.workers),
            "--master-bind-host",
            "127.0.0.1",
        ]
        worker = [*base, "--worker", "--master-host", "127.0.0.1", "--loglevel", "WARNING"]
        return [master, *([worker] * self.workers)]

    def start(self) -> Load:
        users = max(1, math.ceil(self.rate))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.out_dir / "load.log", "ab")  # noqa: SIM115 - held by the children
        for argv in self.argv(users):
            proc = subprocess.Popen(argv, env=self.env(users), stdout=log, stderr=log, start_new_session=True)
            self.procs.append(proc)
            self._keys.append(self._pidfiles.record("locust", pid=proc.pid))
        log.close()
        return self

    def stop(self) -> LoadStats | None:
        """SIGTERM the master (or the headless run) first so it writes its stats, then the rest."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()
        for key in self._keys:
            self._pidfiles.forget(key)
        self._keys.clear()
        return self.stats()

    def stats(self) -> LoadStats | None:
        """Locust's totals: from the JSON it writes as it stops, else from its CSV (written every
        few seconds: the last seconds may be missing)."""
        final = self.csv_prefix.with_name("load_stats.json")
        try:
            entries = json.loads(final.read_text())
            return LoadStats(
                requests=sum(int(e["num_requests"]) for e in entries),
                failures=sum(int(e["num_failures"]) for e in entries),
            )
        except (OSError, ValueError, KeyError, TypeError):
            pass
        path = Path(f"{self.csv_prefix}_stats.csv")
        for _ in range(20):
            if path.exists():
                break
            time.sleep(0.1)
        try:
            rows = list(csv.DictReader(path.open()))
        except OSError:
            return None
        total = next((r for r in rows if r.get("Name") == "Aggregated"), None)
        if total is None:
            return None
        return LoadStats(requests=int(total["Request Count"]), failures=int(total["Failure Count"]))
