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
from harness.process.scratch import ScratchDir
from harness.sampler import StateSampler
from harness.session import view
from harness.session.checks import run_checks
from harness.session.grammar import PACING_WAITS, Command, CommandError, Names
from harness.stack.base import Stack
from harness.stack.lifecycle import Lifecycle
from harness.target.client import TargetClient

if TYPE_CHECKING:
    from harness.explore.load import Load
    from harness.target.observe import Observer

#: how long ``load RATE`` waits for Locust's first batch (Locust imports for a second or more)
LOAD_START_TIMEOUT_S = 30.0
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
        self.load: Load | None = None  #: ``load RATE`` running
        self._load_dir: ScratchDir | None = None  #: Locust's log and stats
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
        """``load RATE``: Locust creates one-item batches at RATE/s (a running load is replaced);
        ``load stop``: stop it and say what it sent. Its batches are not the session's (``wait
        done`` leaves them out), but every check sees them.

        Returns once the load's first batch is in the database (where the states are sampled):
        Locust takes a second or more to start, and a script's next line (a fault timed against
        the load, in an explore reproducer) must meet the load already flowing.
        """
        out = self._stop_load()
        if cmd.rate is None:
            return out or ["load: none running"]
        if self.stack.api_url is None:
            raise CommandError("this stack has no api service to put load on")
        from harness.explore.load import Load  # the explore command's Locust runner

        self._load_dir = self._load_dir or ScratchDir("chaos-audit-load-")
        before = set(self.snapshot().batches)
        self.load = Load(
            self.target, self.stack.api_url, rate=cmd.rate, workers=0, out_dir=self._load_dir.path
        ).start()
        if self.sampled:  # only the database shows the load's batches
            self._await_load(before)
        return [*out, f"load: {cmd.rate:g} new batches per second"]

    def _await_load(self, before: set[str]) -> None:
        """Until a batch that was not there before (nor the session's own) is sampled."""
        assert self.load is not None
        deadline = time.monotonic() + LOAD_START_TIMEOUT_S
        while not set(self.snapshot().batches) - before - set(self.batches):
            gone = all(p.poll() is not None for p in self.load.procs)
            if gone or time.monotonic() >= deadline:
                log = self.load.out_dir / "load.log"
                tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
                self._stop_load()
                why = "Locust exited" if gone else f"no batch of the load within {LOAD_START_TIMEOUT_S:g}s"
                raise CommandError(f"load: {why}; Locust's log ends: {tail.strip() or '(empty)'}")
            self.lock.release()  # let a timed heal run meanwhile
            try:
                time.sleep(0.05)
            finally:
                self.lock.acquire()

    def _stop_load(self) -> list[str]:
        if self.load is None:
            return []
        stats, self.load = self.load.stop(), None
        return [f"load stopped: {stats.line() if stats else 'no totals from Locust'}"]

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
        """``wait 2s`` (a script's pause) or ``wait STATE``: poll the sampled states until true;
        ``wait inflight|hit``: poll the provider's ledger, and go on at the timeout (pacing)."""
        timeout, state = float(cmd.duration_s or 0), cmd.name
        deadline = time.monotonic() + timeout
        paced = _Pacing(self, str(state), service=cmd.target) if state in PACING_WAITS else None
        began = self._samples()
        while True:
            if paced is not None:
                if paced.reached():
                    return [f"waited: {paced.what}"]
            elif state is not None:  # the session's batches; all, until it has started one
                snap = self.own_snapshot() if self.batches else self.snapshot()
                if snap.all_done() if state == "done" else snap.item_states()[state] > 0:
                    return [f"waited: {'every item done' if state == 'done' else 'an item is ' + state}"]
                if self._fresh(began) and self._settled(snap):  # say so now, not at the timeout
                    raise CommandError(
                        f"no item will be {state}: every item of the session's batches is done "
                        f"({self.summary()}); to meet items in flight, slow or hold the provider "
                        "before starting the batch (provider baseline 300ms, provider hang)"
                    )
            if time.monotonic() >= deadline:
                if state is None:
                    return []
                if paced is not None:
                    return [f"not reached within {timeout:g}s: {paced.what}; going on"]
                raise CommandError(f"timed out after {timeout:g}s waiting for {state} ({self.summary()})")
            self.lock.release()  # let a timed heal run while this command waits
            try:
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            finally:
                self.lock.acquire()

    def _samples(self) -> int | None:
        """Samples taken so far (None: the states are read through the API, each snapshot of now)."""
        return self.sampler.samples_taken if self.sampled and self.sampler is not None else None

    def _fresh(self, began: int | None) -> bool:
        """The snapshot holds states of after ``began`` (a sample count): the second sample since
        then began after it (the first may have been under way, with the states of before)."""
        now = self._samples()
        return began is None or now is None or now >= began + 2

    def _settled(self, snap: view.Snapshot) -> bool:
        """Every item of every batch this session started was seen, and each is in a terminal state:
        no state but the ones they are in can be reached (a blocking wait runs no other command).
        Not after a ``retry``: the target may requeue failed items later than it answers."""
        if not self.batches or self.retried or not snap.all_done():
            return False
        return all(
            len(snap.items.get(b, {})) >= size
            for b, (_, size) in zip(self.batches, self.creates, strict=True)
        )

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
                self._stop_load()
            except Exception as exc:  # keep healing
                errors.append(f"load: {exc}")
            if self._load_dir is not None:
                self._load_dir.close()
            for timer, _ in self._timers.values():
                timer.cancel()
            self._timers.clear()
            return errors + self.life.close(ledger=False)  # heals, then stops sampling


class _Pacing:
    """One pacing wait on the provider's ledger, read incrementally (each poll fetches only the
    calls that arrived since the previous one: under load the ledger holds thousands).

    ``inflight``: a provider call is in flight (the first poll reads the whole ledger, for a call
    that arrived before the wait; later polls, the new calls). ``hit``: a call that arrived since
    the active provider fault was injected was answered by it (its rule; set when the call arrives).
    """

    def __init__(self, session: Session, kind: str, *, service: str | None = None) -> None:
        self.session, self.kind, self.service = session, kind, service
        self.what = (
            "the fault hit"
            if kind == "hit"
            else f"a provider call{f' of {service}' if service else ''} in flight"
        )
        self.seen: int | None = session.provider_fault_seq if kind == "hit" else None

    def reached(self) -> bool:
        s = self.session
        if self.kind == "hit" and (
            self.seen is None or not any(target == "provider" for _, target in s.faults.open_faults())
        ):
            return False  # no provider fault is active: nothing can hit it
        entries = s.stack.provider.ledger(since=self.seen)
        self.seen = max((e.seq for e in entries), default=self.seen)
        if self.kind == "inflight":
            return any(e.in_flight and self._held_by_service(e.item_id) for e in entries)
        return any(e.rule_id for e in entries)

    def _held_by_service(self, item_id: str | None) -> bool:
        """The call's item is held by the awaited service; any call will do without a service, or
        where the target does not say who holds its items (then this is the plain ``inflight``)."""
        if self.service is None:
            return True
        holder = self.session.holder_of(item_id) if item_id else None
        return holder is None or holder == self.service
