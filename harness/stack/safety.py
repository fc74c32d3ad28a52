"""Safety of an audit of a running environment: say what may be faulted, refuse unless allowed, abort
when the system is hurt outside the audit's fault windows.

Why: on the external backend the faults land on somebody's staging system. A run prints, before
anything starts, which environment, services and links it may fault, and refuses (exit 2, nothing
injected) unless the target file's ``safety.allow_faults`` is ``true``. While it runs, a
:class:`HealthWatcher` asks the API's health every second; when it fails for longer than
``safety.abort_if_unhealthy_s`` while no fault of the audit is open (the journal is empty), the
trouble is not the audit's to measure: everything is healed and the run stops as aborted (exit 3).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests

from harness.errors import ConfigError, HarnessError
from harness.target.model import Target

#: how often the watcher asks the API's health
WATCH_INTERVAL_S = 1.0
#: why this process's run was aborted (read by the pytest plugin into run.json)
ABORTED: list[str] = []


class RunAborted(HarnessError):
    """The safety watcher stopped the run: the system was unhealthy outside a fault window."""


def plan_lines(target: Target) -> list[str]:
    """What an external run may do, to which environment (printed before anything starts)."""
    env = target.safety.environment if target.safety else "(no safety.environment given)"
    lines = [f"chaos-audit: environment {env!r} (target {target.name!r}), backend external"]
    handled = {n: s.fault_handle for n, s in target.services.items() if s.fault_handle is not None}
    for name, spec in handled.items():
        how = f"container {spec.docker.container}" if spec.docker else "its handle's commands"
        faults = ", ".join(target.services[name].faults) or "none"
        lines.append(f"  may fault service {name} ({faults}) through {how}")
    unhandled = sorted(set(target.services) - set(handled))
    if unhandled:
        lines.append(f"  no handle (process faults unknown): {', '.join(unhandled)}")
    for name, link in target.links.items():
        lines.append(f"  may fault link {name}: {link.listen} -> {link.upstream} (partition, latency, down)")
    lines.append("  may script the mock provider's answers (errors, hangs, delays)")
    return lines


def require_faults_allowed(target: Target) -> None:
    """ConfigError (exit 2) unless the target file allows faults on its environment."""
    if target.safety is None:
        raise ConfigError(
            "the external backend faults a running environment: add `safety: {environment: NAME, "
            "allow_faults: true}` to the target file once you mean it",
            field="safety",
        )
    if not target.safety.allow_faults:
        raise ConfigError(
            f"safety.allow_faults is false for environment {target.safety.environment!r}: "
            "nothing was injected; set it to true to audit this environment",
            field="safety.allow_faults",
        )


def health_url(target: Target, api_url: str) -> str | None:
    """The URL that says whether the API is healthy: ``observe.health``, else the api's ``ready.http``."""
    if target.observe.health is not None and target.observe.health.method == "GET":
        return api_url.rstrip("/") + target.observe.health.path
    for spec in target.services.values():
        if spec.role == "api" and spec.ready is not None and spec.ready.http:
            return api_url.rstrip("/") + spec.ready.http
    return None


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return 200 <= requests.get(url, timeout=5).status_code < 300
        except requests.RequestException:
            return False

    return check


class HealthWatcher:
    """A thread that calls ``on_abort(reason)`` once the system stays unhealthy outside fault windows.

    ``healthy`` and ``in_fault`` are asked every ``interval`` seconds; the unhealthy time counts
    only while no fault is open (a fault window resets it: the audit caused that outage).
    """

    def __init__(
        self,
        *,
        healthy: Callable[[], bool],
        in_fault: Callable[[], bool],
        limit_s: float,
        on_abort: Callable[[str], None],
        interval: float = WATCH_INTERVAL_S,
    ) -> None:
        self.healthy = healthy
        self.in_fault = in_fault
        self.limit_s = limit_s
        self.on_abort = on_abort
        self.interval = interval
        self.aborted: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="chaos-audit-safety", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.interval + 6)

    def _watch(self) -> None:
        unhealthy_since: float | None = None
        while not self._stop.wait(self.interval):
            if self.in_fault():
                unhealthy_since = None
                continue
            if self.healthy():
                unhealthy_since = None
                continue
            now = time.monotonic()
            unhealthy_since = unhealthy_since if unhealthy_since is not None else now
            if now - unhealthy_since >= self.limit_s and not self.in_fault():
                self.aborted = (
                    f"the API was unhealthy for {now - unhealthy_since:.0f}s with no fault of the audit "
                    f"open (safety.abort_if_unhealthy_s = {self.limit_s:g})"
                )
                self.on_abort(self.aborted)
                return
