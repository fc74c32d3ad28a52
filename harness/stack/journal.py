"""The fault journal of an external run: what it injected, on disk before each injection.

On a stack the harness started, a killed run leaves nothing behind (its processes die with it).
On a running staging stack the faults outlive the run: a paused worker stays frozen, a toxic on a
persistent proxy keeps a link partitioned. So every injection is written here first (an atomic
file replace), removed when healed, and ``chaos-audit heal --target FILE`` reads it to undo what a
SIGKILLed run could not. One file per target name, under the user's state directory.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.faults.proxy.client import Proxy, ProxyClient, Toxic
from harness.stack.handles import Handle

#: where journals go when set (the harness's tests point it at a temp dir)
JOURNAL_DIR_ENV = "CHAOS_AUDIT_JOURNAL_DIR"

#: entry kinds: a service killed / paused by a fault, held down for a scenario, a toxic, a link down
KINDS = ("killed", "paused", "held", "toxic", "link_down")


def journal_dir() -> Path:
    """``$CHAOS_AUDIT_JOURNAL_DIR``, else ``$XDG_STATE_HOME/chaos-audit``, else
    ``~/.local/state/chaos-audit``."""
    env = os.environ.get(JOURNAL_DIR_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "chaos-audit"


def journal_path(target_name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", target_name) or "target"
    return journal_dir() / f"{safe}.json"


class Journal:
    """Open faults of one target, as JSON: ``{"proxy_url", "provider_url", "entries": [...]}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def for_target(cls, target_name: str) -> Journal:
        return cls(journal_path(target_name))

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {"entries": []}
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            return {"entries": []}
        return data

    def entries(self, *kinds: str) -> list[dict[str, Any]]:
        return [e for e in self.read()["entries"] if not kinds or e.get("kind") in kinds]

    def set_urls(self, *, proxy_url: str | None, provider_url: str | None) -> None:
        """Where the run's proxy and provider are (``heal`` needs them after the run is gone)."""
        with self._lock:
            data = self.read()
            data.update(proxy_url=proxy_url, provider_url=provider_url)
            self._write(data)

    def add(self, kind: str, **fields: Any) -> None:
        """Record an injection before it is made (kept once: recording twice is idempotent)."""
        entry = {"kind": kind, **fields}
        with self._lock:
            data = self.read()
            if not any(_same(e, entry) for e in data["entries"]):
                data["entries"].append({**entry, "at": time.time(), "pid": os.getpid()})
                self._write(data)

    def remove(self, kind: str, **fields: Any) -> None:
        """Forget a healed fault (every entry of ``kind`` matching ``fields``)."""
        entry = {"kind": kind, **fields}
        with self._lock:
            data = self.read()
            kept = [e for e in data["entries"] if not _same(e, entry)]
            if len(kept) != len(data["entries"]):
                data["entries"] = kept
                self._write(data)

    def open_faults(self) -> list[dict[str, Any]]:
        """The injected faults still open (services held down for a scenario are not faults)."""
        return [e for e in self.read()["entries"] if e.get("kind") != "held"]

    def clear(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)


def _same(entry: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(entry.get(k) == v for k, v in wanted.items())


class JournaledHandle:
    """A service handle whose faults are journaled before they are made, and forgotten when healed."""

    def __init__(self, handle: Handle, journal: Journal) -> None:
        self.name = handle.name
        self.handle = handle
        self.journal = journal
        self.down = False  #: killed through this handle and not started since

    def can(self, verb: str) -> bool:
        return self.handle.can(verb)

    def save_log(self) -> Path | None:
        return self.handle.save_log()

    def memory_kb(self) -> int | None:
        return self.handle.memory_kb()

    def kill(self) -> None:
        self.journal.add("killed", service=self.name)
        self.down = True
        self.handle.kill()

    def stop(self, timeout: float = 0.0) -> None:
        self.journal.add("killed", service=self.name)
        self.down = True
        self.handle.stop(timeout)

    def pause(self) -> None:
        self.journal.add("paused", service=self.name)
        self.handle.pause()

    def resume(self) -> None:
        self.handle.resume()
        self.journal.remove("paused", service=self.name)

    def start(self) -> None:
        self.handle.start()
        self.down = False
        self.journal.remove("killed", service=self.name)

    def restart(self) -> None:
        self.journal.add("killed", service=self.name)  # restart is kill-then-start: a crash first
        self.handle.restart()
        self.down = False
        self.journal.remove("killed", service=self.name)

    @property
    def running(self) -> bool:
        return self.handle.running


class JournaledProxyClient(ProxyClient):
    """The fault proxy's client, journaling each toxic and disabled link before it is made."""

    def __init__(self, base_url: str, journal: Journal) -> None:
        super().__init__(base_url)
        self.journal = journal

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> Toxic:
        self.journal.add("toxic", proxy=proxy, toxic=name or f"{type}_{stream}")
        return super().add_toxic(proxy, type, attributes, stream=stream, toxicity=toxicity, name=name)

    def remove_toxic(self, proxy: str, name: str) -> None:
        super().remove_toxic(proxy, name)
        self.journal.remove("toxic", proxy=proxy, toxic=name)

    def disable(self, name: str) -> Proxy:
        self.journal.add("link_down", proxy=name)
        return super().disable(name)

    def enable(self, name: str) -> Proxy:
        proxy = super().enable(name)
        self.journal.remove("link_down", proxy=name)
        return proxy
