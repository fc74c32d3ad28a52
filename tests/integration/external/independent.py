"""The reference target run as an independent stack, the way an operator runs staging.

Its own embedded PostgreSQL (through ``stackctl.py``'s keeper), a persistent ``chaos-audit proxy
--links`` and ``chaos-audit provider``, the API and two workers connecting through the links'
addresses, each service launched detached with a pid file, as systemd would. The target file it
writes gives command handles (``kill -KILL <pid>``, ``stackctl.py start``) and the stack's real
timings (``TIMING``, the same values its services' environment carries): nothing the harness
could change. Used by the end-to-end test and by the by-hand measurement (``measure.py``).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import requests
import yaml

from harness.store.postgres import data_parent, free_port

ROOT = Path(__file__).resolve().parents[3]
STACKCTL = Path(__file__).with_name("stackctl.py")
REFERENCE = ROOT / "harness" / "target" / "reference.yaml"
WORKERS = ("worker-1", "worker-2")
#: the running stack's settings: the file's timing and the services' env say the same
TIMING = {
    "lease_s": 1.0, "heartbeat_s": 0.3, "provider_timeout_s": 30.0, "batch_deadline_s": 30,
    "max_attempts": 3, "max_deliveries": 3, "breaker_threshold": 3, "breaker_cooldown_s": 0.5,
    "pagination_max_pages": 50, "pagination_max_s": 5, "max_duration_s": 10,
}  # fmt: skip


_T = TypeVar("_T")


class IndependentStack:
    """The reference target run the way an operator runs staging: nothing owned by the harness."""

    def __init__(self, work: Path, *, timing: Mapping[str, Any] = TIMING, defects: str = "") -> None:
        self.work = work
        self.timing = dict(timing)
        self.state = work / "state"
        self.state.mkdir(parents=True, exist_ok=True)
        self.pg_base = Path(tempfile.mkdtemp(prefix="chaos-audit-ext-e2e-", dir=data_parent()))
        self.ports = {n: free_port() for n in ("pg", "proxy", "provider", "api")}
        self.listen = {
            link: free_port()
            for link in ("api-db", *(f"{w}-db" for w in WORKERS), *(f"{w}-provider" for w in WORKERS))
        }
        self.target_file = work / "staging.yaml"
        self.journal_dir = work / "journal"
        self.defects = defects

    # -- the operator's side --------------------------------------------------------------------------
    def ctl(self, *args: str) -> list[str]:
        return [sys.executable, str(STACKCTL), str(self.state), *args]

    def spec(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        spec = {"argv": argv, "env": env or {}, "log": str(self.state / f"{name}.log")}
        (self.state / f"{name}.spec.json").write_text(json.dumps(spec))

    def app_env(self, db_link: str, provider: str, **extra: str) -> dict[str, str]:
        env = {
            "PYTHONPATH": os.pathsep.join([str(ROOT / "fixtures"), str(ROOT)]),
            "REFTARGET_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{self.listen[db_link]}/app",
            "REFTARGET_PROVIDER_URL": provider,
            "REFTARGET_HOST": "127.0.0.1",
            "REFTARGET_PORT": str(self.ports["api"]),
            "REFTARGET_DEFECTS": self.defects,
            "REFTARGET_SEED": "7",
            "REFTARGET_WF_INACTIVITY_S": "3",
            "REFTARGET_WF_MAX_RECOVERIES": "2",
            **extra,
        }
        for key, value in self.timing.items():
            env[f"REFTARGET_{key.upper()}"] = str(value)
        return env

    def write_specs(self) -> None:
        cli = [sys.executable, "-m", "harness.cli"]
        self.spec("db", self.ctl("db-keeper", "db", str(self.pg_base), str(self.ports["pg"])))
        self.spec("provider", [*cli, "provider", "--port", str(self.ports["provider"])])
        self.spec(
            "proxy", [*cli, "proxy", "--port", str(self.ports["proxy"]), "--links", str(self.target_file)]
        )
        provider = f"http://127.0.0.1:{self.ports['provider']}"
        self.spec("api", [sys.executable, "-m", "reftarget.api"], self.app_env("api-db", provider))
        for w in WORKERS:
            via = f"http://127.0.0.1:{self.listen[f'{w}-provider']}"
            self.spec(w, [sys.executable, "-m", "reftarget.worker"],
                      self.app_env(f"{w}-db", via, REFTARGET_WORKER_ID=w))  # fmt: skip

    def start(self, name: str) -> None:
        subprocess.run(self.ctl("start", name), check=True, timeout=90)

    def kill(self, name: str) -> None:
        try:
            pid = int((self.state / f"{name}.pid").read_text())
            os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def alive(self, name: str) -> bool:
        return subprocess.run(self.ctl("alive", name), check=False).returncode == 0

    def wait_http(self, url: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{url} did not answer within {timeout}s")

    def up(self) -> None:
        """Everything, in the order an operator would start it."""
        self.write_target()
        self.write_specs()
        self.start("db")
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.ports['pg']}/postgres", autocommit=True
        ) as c:
            c.execute("DROP DATABASE IF EXISTS app WITH (FORCE)")
            c.execute("CREATE DATABASE app")
        for name in ("provider", "proxy"):
            if not self.alive(name):
                self.start(name)
        self.wait_http(f"http://127.0.0.1:{self.ports['provider']}/_control/health")
        self.wait_http(f"http://127.0.0.1:{self.ports['proxy']}/version")
        self.start("api")
        self.wait_http(f"http://127.0.0.1:{self.ports['api']}/health")
        for w in WORKERS:
            self.start(w)

    def restart_app(self, defects: str) -> None:
        """The same stack, its API and workers restarted with other settings (a fresh database)."""
        for name in ("api", *WORKERS):
            self.kill(name)
        self.defects = defects
        self.up()

    def close(self) -> None:
        for name in ("api", *WORKERS, "proxy", "provider", "db"):
            self.kill(name)
        shutil.rmtree(self.pg_base, ignore_errors=True)

    # -- the target file -------------------------------------------------------------------------------
    def handle(self, name: str, *, group: bool = False) -> dict[str, Any]:
        pidfile = self.state / f"{name}.pid"
        kill = f"kill -KILL -$(cat {pidfile})" if group else f"kill -KILL $(cat {pidfile})"
        return {"commands": {
            "kill": kill,
            "alive": self.ctl("alive", name),
            "pause": f"kill -STOP $(cat {pidfile})",
            "resume": f"kill -CONT $(cat {pidfile})",
            "start": self.ctl("start", name),
            "memory_kb": f"ps -o rss= -p $(cat {pidfile})",
        }}  # fmt: skip

    def write_target(self) -> None:
        doc = yaml.safe_load(REFERENCE.read_text())
        doc["name"] = f"reference-staging-{self.ports['api']}"
        api = f"http://127.0.0.1:{self.ports['api']}"
        doc["services"] = {
            "db": {"role": "db", "faults": ["kill", "pause", "restart"], "handle": self.handle("db", group=True)},
            "provider": {"role": "provider", "faults": [], "attach": True,
                         "url": f"http://127.0.0.1:{self.ports['provider']}"},
            "proxy": {"role": "proxy", "faults": [], "attach": True, "url": f"http://127.0.0.1:{self.ports['proxy']}"},
            "api": {"role": "api", "url": api, "ready": {"http": "/health"}, "handle": self.handle("api")},
            **{w: {"role": "worker", "handle": self.handle(w)} for w in WORKERS},
        }  # fmt: skip
        upstream = {"db": f"127.0.0.1:{self.ports['pg']}", "provider": f"127.0.0.1:{self.ports['provider']}"}
        doc["links"] = {
            name: {"from": link["from"], "to": link["to"], "listen": f"127.0.0.1:{self.listen[name]}",
                   "upstream": upstream[link["to"]]}
            for name, link in doc["links"].items()
        }  # fmt: skip
        doc["database"]["kind"] = "external"
        doc["database"]["dsn"] = f"postgresql://postgres@127.0.0.1:{self.ports['pg']}/app"
        doc["logs"]["paths"] = {n: str(self.state / f"{n}.log") for n in ("api", *WORKERS)}
        doc["timing"] = self.timing
        doc["safety"] = {"environment": "e2e-staging", "allow_faults": True, "abort_if_unhealthy_s": 30}
        self.target_file.write_text(yaml.safe_dump(doc, sort_keys=False))

    # -- the auditor's side ----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
        env["CHAOS_AUDIT_JOURNAL_DIR"] = str(self.journal_dir)
        return env

    def audit_argv(self, only: str, report_dir: Path) -> list[str]:
        """``only``: comma-separated ids, or ``""`` for every scenario."""
        return [
            sys.executable, "-m", "pytest", "scenarios", "-q", "-p", "no:cacheprovider",
            "--chaos-backend", "external", "--chaos-target", str(self.target_file),
            *(["--chaos-only", only] if only else []),
            "--chaos-report-dir", str(report_dir), "--chaos-seed", "7",
        ]  # fmt: skip

    def audit(self, only: str, report_dir: Path, *, timeout: float = 900) -> dict[str, str]:
        """Each scenario's verdict (``pass`` / ``fail`` / ``unknown``); prints the reasons."""
        return {k: v for k, (v, _) in self.audit_with_reasons(only, report_dir, timeout=timeout).items()}

    def audit_with_reasons(
        self, only: str, report_dir: Path, *, timeout: float = 900
    ) -> dict[str, tuple[str, str]]:
        """Run ``only`` (comma-separated ids, or ``""`` for all) through pytest on this stack."""
        done = subprocess.run(self.audit_argv(only, report_dir), cwd=ROOT, env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
        run = json.loads((report_dir / "run.json").read_text())
        out = {s["id"]: (s["verdict"], s.get("reason", "")[:300]) for s in run["scenarios"]}
        print(done.stdout[-3000:], done.stderr[-2000:], {k: r for k, (_, r) in out.items()}, sep="\n")
        return out


@contextmanager
def stacks_up(*stacks: IndependentStack) -> Iterator[tuple[IndependentStack, ...]]:
    """Each stack up (one after the other, as an operator would), all closed at the end."""
    with ExitStack() as closing:
        for stack in stacks:
            closing.callback(stack.close)
            stack.up()
        yield stacks


def at_once(jobs: Sequence[Callable[[], _T]]) -> list[_T]:
    """Run every job in its own thread; their results in the jobs' order (the first error raised).
    Audits of separate stacks do not see each other (each its own database, proxy, provider and
    services) and mostly wait on the stacks' own timings: two at a time halve a test's time for
    little more CPU."""
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]


def sweep(stacks: Sequence[IndependentStack], jobs: Sequence[Callable[[IndependentStack], _T]]) -> list[_T]:
    """Run ``jobs`` in this order, each on whichever stack is free next (each stack one job at a
    time); their results in the jobs' order."""
    pending = list(enumerate(jobs))
    results: dict[int, _T] = {}

    def drain(stack: IndependentStack) -> None:
        while True:
            try:
                index, job = pending.pop(0)
            except IndexError:
                return
            results[index] = job(stack)

    at_once([functools.partial(drain, s) for s in stacks])
    return [results[i] for i in range(len(jobs))]
