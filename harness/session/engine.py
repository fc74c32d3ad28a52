"""What the session's commands do to the stack: faults, batches, checks, all recorded in one history.

The console parses a line into a :class:`~harness.session.grammar.Command` and hands it here; this
module knows no terminal. Each command that changes or inspects the stack is an op of the
``console`` process in the history (so the report's timeline shows when it was typed), each fault
goes through :class:`~harness.faults.injector.Faults` (so it is recorded and healable), and
``close()`` heals whatever is still open. A provider fault ``for 10s`` heals itself on a timer;
the console prints the note before its next output, so nothing is written over the prompt.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.checkers.result import CheckResult, Validity
from harness.faults import registry
from harness.faults.injector import Faults
from harness.history import History
from harness.sampler import StateSampler
from harness.session import view
from harness.session.checks import run_checks
from harness.session.grammar import Command, CommandError, Names
from harness.session.load import SessionLoad
from harness.session.waits import run_wait
from harness.stack.base import Stack
from harness.stack.lifecycle import Lifecycle
from harness.target.client import TargetClient

if TYPE_CHECKING:
    from harness.target.observe import Observer

#: commands that only look (no op in the history; ``report`` and ``save`` only write files)
QUIET_VERBS = frozenset({"status", "help", "watch", "report", "save", "quit"})


@dataclass(frozen=True, kw_only=True)
class Typed:
    """A command the session ran, with when it started and ended (monotonic): the script's material."""

    line: str
    started: float
    ended: float


class Session:
    """One ad-hoc chaos session on a started stack."""

    def __init__(self, stack: Stack, *, seed: int, sample: bool = True) -> None:
        self.stack = stack
        self.target = stack.target
        self.seed = seed
        self.history = History()
        self.names = Names(services=tuple(self.target.services), links=tuple(self.target.links))
        self.lock = threading.RLock()  # commands and timed heals never interleave
        self.batches: list[str] = []
        #: (idempotency key, size) of each batch this session created, in the order of ``batches``
        self.creates: list[tuple[str, int]] = []
        self.retried = False  #: a ``retry`` was sent: failed items may be requeued at any later time
        #: each ``retrigger``: the batch it repeats and the batch the target answered
        self.retriggers: list[dict[str, Any]] = []
        self.checks: list[CheckResult] = []
        self.typed: list[Typed] = []
        self.notes: list[str] = []
        self.killed: dict[str, float] = {}
        #: the provider ledger's last ``seq`` when the newest provider fault was injected (``wait hit``)
        self.provider_fault_seq: int | None = None
        self._timers: dict[tuple[str, str], tuple[threading.Timer, float]] = {}
        self._observer: Observer | None = None  #: built on first use (``wait inflight SERVICE``)
        self.load = SessionLoad(self)  #: ``load RATE``
        self.client = (
            TargetClient(self.target, stack.api_url, history=self.history, process="console")
            if stack.api_url
            else None
        )
        from harness.target.observe import Observer

        observer = Observer(self.target, lambda: stack.db_dsn or None)
        #: the history's faults and state sampler; ``close`` heals (the report adds the ledger)
        self.life = Lifecycle(stack, self.history, canonical=observer.canonical)
        self.faults: Faults = self.life.faults
        if sample:
            self.life.start_sampler()

    @property
    def sampler(self) -> StateSampler | None:
        return self.life.sampler

    @property
    def sampled(self) -> bool:
        """The item states come from the sampler (else from the target's API, see :meth:`snapshot`)."""
        return self.sampler is not None and self.sampler.items_sql is not None

    # -- running commands ---------------------------------------------------------------------------
    def run(self, cmd: Command) -> list[str]:
        """Run one command; returns the lines to show. Raises CommandError for a refused command."""
        handler: Callable[[Command], list[str]] = getattr(self, f"_do_{cmd.verb}")
        started = time.monotonic()
        with self.lock:
            op = None if cmd.verb in QUIET_VERBS else self.history.invoke("console", cmd.verb, cmd.line)
            try:
                out = handler(cmd)
            except Exception as exc:
                if op is not None:
                    op.fail(f"{type(exc).__name__}: {exc}")
                if isinstance(exc, CommandError):
                    raise
                raise CommandError(f"{cmd.verb} failed: {type(exc).__name__}: {exc}") from exc
            if op is not None:
                op.ok()
        if cmd.verb not in ("save", "help", "quit"):
            self.typed.append(Typed(line=cmd.line, started=started, ended=time.monotonic()))
        return out

    def take_notes(self) -> list[str]:
        with self.lock:
            notes, self.notes = self.notes, []
        return notes

    # -- the view -------------------------------------------------------------------------------------
    def active_faults(self) -> list[view.ActiveFault]:
        """Open faults with their age (from the history's start events), and services left killed."""
        with self.lock:
            starts = {(f.name, f.target): f.time for f in self.history.faults() if f.phase == "start"}
            out = [
                view.ActiveFault(
                    name=n,
                    target=t,
                    since=starts.get((n, t), 0.0),
                    heals_at=self._timers.get((n, t), (0, None))[1],
                )
                for n, t in self.faults.open_faults()
            ]
            out += [view.ActiveFault(name="kill", target=s, since=t) for s, t in self.killed.items()]
        return sorted(out, key=lambda f: f.since)

    def snapshot(self) -> view.Snapshot:
        """The latest states: sampled from the database, or read through the target's API for this
        session's batches where nothing samples the items: someone's staging database without its
        own ``database.observations.items``, a target described by its HTTP API alone or answering
        through an adapter (its sampler has no items query and would leave the session blind)."""
        if self.sampled or self.client is None:
            return view.snapshot(self.history)
        snap = view.Snapshot()
        for batch in self.batches:
            try:
                snap.batches[batch] = self.client.batch_state(batch)
                items = self.client.items(batch)
            except Exception:  # the API is down or partitioned: show what is known
                snap.batches.setdefault(batch, "unreachable")
                continue
            for n, item in enumerate(items, 1):
                seq = item.seq if item.seq is not None else n
                snap.items.setdefault(batch, {})[seq] = item.state
                snap.ids[item.id] = (batch, seq)
        return snap

    def holder_of(self, item_id: str) -> str | None:
        """The service holding ``item_id`` now, through the target contract (None: not said)."""
        try:
            if self._observer is None:
                from harness.target.stack_observer import stack_observer

                self._observer = stack_observer(self.stack)
            row = self._observer.item(item_id)
        except Exception:  # not observable here (no holder field, the store unreachable)
            return None
        return row.holder if row is not None else None

    def own_snapshot(self) -> view.Snapshot:
        """The snapshot of this session's own batches only (the load's and anybody else's left out)."""
        snap = self.snapshot()
        mine = set(self.batches)
        out = view.Snapshot(db=snap.db)
        for batch in mine:
            out.batches[batch] = snap.batches.get(batch, "?")
            out.items[batch] = dict(snap.items.get(batch, {}))
        out.ids = {i: key for i, key in snap.ids.items() if key[0] in mine}
        return out

    def view_lines(self) -> list[str]:
        return view.render(self.snapshot(), self.active_faults(), time.monotonic())

    def summary(self) -> str:
        return view.summary(self.snapshot(), self.active_faults(), time.monotonic())

    # -- workload and process faults ------------------------------------------------------------------
    def _do_status(self, cmd: Command) -> list[str]:
        return self.view_lines()

    def _do_start(self, cmd: Command) -> list[str]:
        if cmd.name == "batch":
            if self.client is None:
                raise CommandError("this stack has no api service to start a batch with")
            key = str(uuid.uuid4())
            answer = self.client.create_batch(int(cmd.count or 0), key=key)
            if not answer.ok:
                raise CommandError(f"the target refused the batch: HTTP {answer.status} {answer.body}")
            batch = self.client.batch_id_of(answer)
            self.batches.append(batch)
            self.creates.append((key, int(cmd.count or 0)))
            return [f"batch {len(self.batches)} started: {batch} ({cmd.count} items)"]
        name = str(cmd.name)
        db_down = self._is_db(name) and self._key("kill", name) in self.faults.open_faults()
        down = db_down or name in self.killed
        if not down and (self._is_db(name) or self.stack.process(name).running):
            raise CommandError(f"{name} is already running (restart {name} stops and starts it)")
        return self._do_restart(cmd)

    # -- user actions on a batch ---------------------------------------------------------------------
    def _do_retrigger(self, cmd: Command) -> list[str]:
        """The create of batch BATCH again, same key and payload (a double submit, a client retry)."""
        n, batch = self._batch(cmd)
        key, size = self.creates[n - 1]
        assert self.client is not None
        answer = self.client.create_batch(size, key=key)
        answered = self.client.batch_id_of(answer) if answer.ok else None
        if answer.ok or answer.status == 409:  # 409: the key was refused, no second batch either
            self.retriggers.append({"batch": n, "original": batch, "answered": answered or batch})
        if answered not in (None, batch):
            return [f"retrigger {n}: the target started a second batch {answered} (not {batch})"]
        return [f"retrigger {n}: HTTP {answer.status}, " + ("same batch" if answered else str(answer.body))]

    def _do_retry(self, cmd: Command) -> list[str]:
        n, batch = self._batch(cmd)
        assert self.client is not None
        answer = self.client.control("retry_failed", {"batch_id": batch})
        self.retried = True
        return [f"retry {n}: HTTP {answer.status} {answer.body}"]

    def _do_cancel(self, cmd: Command) -> list[str]:
        n, batch = self._batch(cmd)
        assert self.client is not None
        answer = self.client.control("cancel", {"batch_id": batch})
        return [f"cancel {n}: HTTP {answer.status} {answer.body}"]

    def _batch(self, cmd: Command) -> tuple[int, str]:
        """The session's ``cmd.count``-th batch (1-based) and its id; a refusal (the target's own
        answer, e.g. 409 nothing to retry) is output, not an error, so a script goes on."""
        n = int(cmd.count or 0)
        if self.client is None:
            raise CommandError("this stack has no api service")
        if not 1 <= n <= len(self.batches):
            raise CommandError(f"no batch {n}: this session started {len(self.batches)} (start batch N)")
        return n, self.batches[n - 1]

    def _do_kill(self, cmd: Command) -> list[str]:
        name = str(cmd.name)
        if name in self.killed or self._key("kill", name) in self.faults.open_faults():
            raise CommandError(f"{name} is already killed (heal {name} or restart {name} starts it)")
        self.faults.heal(*self._key("pause", name))  # resumed first, so no pause outlives the kill
        self._inject("kill", name)
        if self._is_db(name):
            return ["db killed (SIGKILL); heal db or restart db brings it back"]
        return [f"{name} killed (SIGKILL); heal {name} or restart {name} starts it again"]

    def _do_pause(self, cmd: Command) -> list[str]:
        name = str(cmd.name)
        if self._key("pause", name) in self.faults.open_faults():
            raise CommandError(f"{name} is already paused (resume {name} or heal {name})")
        self._inject("pause", name)
        return [f"{name} paused (SIGSTOP)"]

    def _do_resume(self, cmd: Command) -> list[str]:
        name = str(cmd.name)
        if not self.faults.heal(*self._key("pause", name)):
            raise CommandError(f"{name} is not paused")
        return [f"{name} resumed"]

    def _do_restart(self, cmd: Command) -> list[str]:
        name = str(cmd.name)
        if self._is_db(name):
            if not self.faults.heal(*self._key("kill", name)):
                self.faults.heal(*self._key("pause", name))
                self._inject("kill", name)
                self.faults.heal(*self._key("kill", name))
            return ["db restarted (crash recovery)"]
        self.faults.heal(*self._key("pause", name))  # a paused process is resumed before it is stopped
        self._inject("restart", name)
        self.killed.pop(name, None)
        return [f"{name} started and ready"]

    # -- network and provider faults --------------------------------------------------------------------
    def _do_partition(self, cmd: Command) -> list[str]:
        link = str(cmd.name)
        if ("partition", link) in self.faults.open_faults():
            raise CommandError(f"{link} is already partitioned (heal {link} first)")
        self.faults.inject("partition", link)
        return [f"{link} partitioned (both directions blackholed)"]

    def _do_latency(self, cmd: Command) -> list[str]:
        link = str(cmd.name)
        if ("latency", link) in self.faults.open_faults():
            raise CommandError(f"{link} already has latency (heal {link} first)")
        ms, jitter = round((cmd.duration_s or 0) * 1000), round((cmd.jitter_s or 0) * 1000)
        self.faults.inject("latency", link, ms=ms, jitter=jitter)
        return [f"{link}: +{ms} ms latency" + (f" (jitter {jitter} ms)" if jitter else "")]

    def _do_provider(self, cmd: Command) -> list[str]:
        if cmd.name == "baseline":  # the provider's own latency: configuration, not a fault
            ms = round((cmd.duration_s or 0) * 1000)
            self.stack.provider.configure(default_delay_ms=ms)
            return [f"provider answers after {ms} ms when no fault applies"]
        params: dict[str, Any] = {}
        if cmd.item is not None:
            params["item_id"] = self._item_id(cmd.item)
        if cmd.call is not None:
            params["nth"] = cmd.call
        scope = f" for item {cmd.item}" if cmd.item else f" for call {cmd.call}" if cmd.call else ""
        if cmd.name == "hang":
            name, what = "provider_hang", "hangs"
        elif cmd.name == "delay":
            name, what = "provider_delay", f"answers after {cmd.duration_s:g}s"
            params["delay_ms"] = round((cmd.duration_s or 0) * 1000)
        elif cmd.name == "trickle":
            name, what = "provider_trickle", f"trickles its answer (a byte every {cmd.duration_s:g}s)"
            params["trickle_ms"] = max(1, round((cmd.duration_s or 0) * 1000))
        elif cmd.name == "malformed":
            name, what = "provider_malformed", "answers a malformed body"
        else:
            name, what = ("provider_error" if scope else "provider_outage"), f"answers {cmd.count}"
            params["status"] = cmd.count
        if (name, "provider") in self.faults.open_faults():
            raise CommandError(f"{name} is already active (heal provider first)")
        self.provider_fault_seq = max((e.seq for e in self.stack.provider.ledger()), default=0)
        self.faults.inject(name, **params)
        if cmd.for_s:
            self._heal_later(name, "provider", cmd.for_s)
        until = f" for {cmd.for_s:g}s" if cmd.for_s else " until healed"
        return [f"provider {what}{scope}{until}"]

    def _do_inject(self, cmd: Command) -> list[str]:
        """Any fault of the registry by name, with its parameters: ``inject link_down api-db``."""
        fault = registry.get(str(cmd.name))
        target = fault.fixed_target() or str(cmd.target)
        if (fault.name, target) in self.faults.open_faults() or target in self.killed:
            raise CommandError(f"{fault.label(target)} is already active (heal {target} first)")
        step = self.faults.inject(fault.name, target, **dict(cmd.params))
        if fault.heals == "never":  # a killed service: heal (or restart) starts it again
            self.killed[target] = time.monotonic()
        elif fault.heals == "instant":
            self.killed.pop(target, None)
        done = registry.label(step.name, step.target, step.details)
        return [f"{done}: injected" + (f"; heal {step.target} removes it" if step.heal else "")]

    def _do_heal(self, cmd: Command) -> list[str]:
        target = str(cmd.name)
        role = self.target.services[target].role if target in self.target.services else None
        target = {"db": "db", "provider": "provider"}.get(str(role), target)  # where Faults records them
        healed = [f"{n} {t}" for n, t in self.faults.open_faults() if target in ("all", t)]
        for key in [k for k in self._timers if target in ("all", k[1])]:
            self._timers.pop(key)[0].cancel()
        if target == "all":
            errors = self.faults.heal_all()
            if errors:
                raise CommandError("; ".join(errors))
        else:
            for name, t in reversed(self.faults.open_faults()):
                if t == target:
                    self.faults.heal(name, t)
        for service in [s for s in list(self.killed) if target in ("all", s)]:
            self.faults.restart(service)
            self.killed.pop(service)
            healed.append(f"kill {service} (restarted)")
        return [f"healed: {', '.join(healed)}" if healed else f"nothing to heal on {target}"]

    def _heal_later(self, name: str, target: str, delay: float) -> None:
        def heal() -> None:
            with self.lock:
                if self._timers.pop((name, target), None) is None:
                    return  # healed by hand meanwhile
                try:
                    self.faults.heal(name, target)
                    self.notes.append(f"{name} on {target} healed after {delay:g}s")
                except Exception as exc:
                    self.notes.append(f"{name} on {target}: timed heal failed: {exc}")

        timer = threading.Timer(delay, heal)
        timer.daemon = True
        self._timers[(name, target)] = (timer, time.monotonic() + delay)
        timer.start()

    # -- load ------------------------------------------------------------------------------------------
    def _do_load(self, cmd: Command) -> list[str]:
        """``load RATE``: Locust creates one-item batches at RATE/s (a running load is replaced, see
        :mod:`harness.session.load`); ``load stop``: stop it and say what it sent."""
        out = self.load.stop()
        if cmd.rate is None:
            return out or ["load: none running"]
        self.load.start(cmd.rate)
        return [*out, f"load: {cmd.rate:g} new batches per second"]

    # -- checks and waits -----------------------------------------------------------------------------
    def _do_check(self, cmd: Command) -> list[str]:
        results = self.check_now(cmd.name.split() if cmd.name else None)
        failed = sum(r.valid is Validity.FALSE for r in results)
        unknown = sum(r.valid is Validity.UNKNOWN for r in results)
        head = f"check: {len(results) - failed - unknown} ok, {failed} violated, {unknown} unknown"
        return [head, *(f"  {r.summary()}" for r in results)]

    def check_now(self, names: list[str] | None = None) -> list[CheckResult]:
        """The SQL invariants and the ledger checkers (or the named checks) on the state right now
        (kept for the report)."""
        down = [n for n, t in self.faults.open_faults() if registry.FAULTS[n].acts_on == "db"]
        self.checks = run_checks(
            self.stack,
            self.snapshot(),
            db_down=down[0] if down else None,
            names=names,
            retriggers=list(self.retriggers),
        )
        return self.checks

    def _do_wait(self, cmd: Command) -> list[str]:
        """``wait 2s``, ``wait STATE``, ``wait inflight|hit``: see :mod:`harness.session.waits`."""
        return run_wait(self, cmd)

    def _item_id(self, seq: int) -> str:
        if not self.batches:
            raise CommandError("no batch yet: start batch N first (or aim at the n-th call: call N)")
        item = self.snapshot().item_id(self.batches[-1], seq)
        if item is None and self.client is not None:
            item = next((i.id for i in self.client.items(self.batches[-1]) if i.seq == seq), None)
        if item is None:
            raise CommandError(f"the newest batch has no item {seq}")
        return item

    def _fault(self, verb: str, name: str) -> registry.Fault:
        """The registry's fault a verb means on ``name`` (``kill`` on the db service: ``db_kill``)."""
        return registry.for_verb(verb, "db" if self._is_db(name) else "service")

    def _key(self, verb: str, name: str) -> tuple[str, str]:
        """How Faults records the fault ``verb`` on ``name`` (the database's under ``db``)."""
        fault = self._fault(verb, name)
        return fault.name, fault.fixed_target() or name

    def _inject(self, verb: str, name: str) -> None:
        fault = self._fault(verb, name)
        self.faults.inject(fault.name, name)
        if fault.heals == "never":  # a killed service: heal (or restart) starts it again
            self.killed[name] = time.monotonic()

    def _is_db(self, name: str) -> bool:
        return self.target.services[name].role == "db"

    # -- the end ---------------------------------------------------------------------------------------
    def close(self) -> list[str]:
        """Stop the load, heal every open fault (timers first), stop sampling; returns errors
        instead of raising."""
        with self.lock:
            errors: list[str] = []
            try:
                self.load.close()
            except Exception as exc:  # keep healing
                errors.append(f"load: {exc}")
            for timer, _ in self._timers.values():
                timer.cancel()
            self._timers.clear()
            return errors + self.life.close(ledger=False)  # heals, then stops sampling
