"""One lifecycle for every entry point: open a backend's stack, watch it, heal it, close it.

Two pieces, used by the pytest plugin, ``chaos-audit session`` and ``chaos-audit target check``:

- :func:`open_stack`: the backend's infrastructure and one stack on it, started, torn down in
  reverse order however the block ends (the session and ``target check``; the plugin opens the
  same two pieces in its session and per-scenario fixtures, :mod:`harness.stack.backends`);
- :class:`Lifecycle`: one audited stretch of a stack's life (a scenario, a session): its history,
  the faults injected into the stack, the state sampler feeding the history, and at the end, in
  this order, every fault healed, the sampler stopped (after healing: a paused database would
  hold its last query), the provider's ledger added to the history. :func:`audited` runs one
  around a block and saves the history.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.faults.injector import Faults
from harness.history import History
from harness.sampler import DEFAULT_INTERVAL_S, StateSampler
from harness.stack.backends import Say, get_backend
from harness.stack.base import Stack
from harness.target.model import Target


@contextlib.contextmanager
def open_stack(
    target: Target,
    backend: str,
    *,
    seed: int,
    defects: Sequence[str] = (),
    say: Say = print,
    faults: bool = True,
) -> Iterator[Stack]:
    """Start (local, docker) or reach (external) the target's stack with every service; yields it.

    ``faults``: whether faults will be injected; on a stack the harness does not start they need
    the target file's ``safety.allow_faults`` (``target check`` injects none, so it passes False).
    Refusals (ConfigError) come before anything is started or reached.
    """
    chosen = get_backend(backend)
    if not chosen.starts_services:
        _running_stack_checks(target, defects=defects, faults=faults, say=say)
    with chosen.infra(target, seed=seed, say=say) as infra:
        stack = chosen.new_stack(infra, target, defects=defects, seed=seed)
        with contextlib.closing(stack):
            stack.start()
            yield stack


def _running_stack_checks(target: Target, *, defects: Sequence[str], faults: bool, say: Say) -> None:
    """Refuse (ConfigError, exit 2) before reaching a running environment the run may not touch."""
    from harness.stack.backends import refuse_defects
    from harness.stack.safety import plan_lines, require_faults_allowed

    refuse_defects(defects)
    if faults:
        for line in plan_lines(target):
            say(line)
        require_faults_allowed(target)


def should_sample(backend: str, target: Target) -> bool:
    """Sample states into the history, except on someone's running database with the default query,
    and never where the target gives the sampler nothing to read.

    The default query reads every item; on an external (e.g. staging) database that could be
    millions of rows, so there the target file must opt in by giving ``database.observations.items``.
    A target answered through an adapter, or with its item and batch observations switched off, has
    no query to sample: a sampler would hold a database connection and poll nothing.
    """
    from harness.target.observe import sample_queries

    if not any(sample_queries(target).values()):
        return False
    return get_backend(backend).starts_services or "items" in target.database.observations


class Lifecycle:
    """A stack's history, faults and state sampler for one scenario or session; ``close`` heals."""

    def __init__(
        self, stack: Stack, history: History, *, canonical: Callable[[str], str] | None = None
    ) -> None:
        self.stack = stack
        self.history = history
        self.faults = Faults(stack, history)
        self.sampler: StateSampler | None = None
        self._canonical = canonical

    def start_sampler(self, *, interval: float = DEFAULT_INTERVAL_S) -> StateSampler:
        """Sample the stack's item and batch states into the history (idempotent); the sampler
        waits for the stack's database itself, so it may start before ``stack.start()``."""
        if self.sampler is None or not self.sampler.running:
            from harness.target.observe import sample_queries

            self.sampler = StateSampler(
                self.history,
                lambda: self.stack.db_dsn,
                interval=interval,
                queries=sample_queries(self.stack.target),
                canonical=self._canonical or str,
            )
            self.sampler.start()
        return self.sampler

    def stop_sampler(self) -> None:
        """Stop the sampler (after a last sample); safe when it never started."""
        if self.sampler is not None:
            self.sampler.stop()

    def close(self, *, ledger: bool = True) -> list[str]:
        """Heal every fault, stop sampling, add the provider's ledger; the errors, never raised."""
        errors = self.faults.heal_all()
        self.stop_sampler()  # after healing: a paused database would hold its last query
        if ledger:
            try:
                entries = self.stack.provider.ledger()
                self.history.add_ledger([e.to_json() if hasattr(e, "to_json") else e for e in entries])
            except Exception as exc:  # the ledger is evidence, not a reason to fail teardown
                errors.append(f"ledger: {exc}")
        return errors

    def __enter__(self) -> Lifecycle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@contextlib.contextmanager
def audited(
    life: Lifecycle,
    *,
    sample: bool,
    history_path: Path | None = None,
    on_errors: Callable[[list[str]], Any] | None = None,
) -> Iterator[Lifecycle]:
    """Around a scenario: sample (when asked), then whatever happens heal, stop sampling, add the
    ledger, save the history to ``history_path``, and hand heal errors to ``on_errors``."""
    if sample:
        life.start_sampler()
    try:
        yield life
    finally:
        errors = life.close()
        if history_path is not None:
            history_path.parent.mkdir(parents=True, exist_ok=True)
            life.history.save(history_path)
        if errors and on_errors is not None:
            on_errors(errors)
