"""Fresh stacks for the exploration and for each shrinking replay.

On the local backend the infrastructure (PostgreSQL, fault proxy, mock provider) is started once
and every stack on it gets a new database, new proxies and a reset provider: a replay starts from
nothing in a few seconds. The docker and external backends bring a stack up per replay the way
``chaos-audit session`` does (external: the same running system each time, its state included).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from harness.stack.base import Stack
from harness.stack.lifecycle import open_stack
from harness.target.model import Target

if TYPE_CHECKING:
    from harness.stack.infra import LocalInfra


class Stacks:
    """A source of started stacks for one target; ``close()`` stops the shared infrastructure."""

    def __init__(
        self,
        target: Target,
        backend: str,
        *,
        seed: int,
        defects: Sequence[str] = (),
        say: Callable[[str], None] = print,
    ) -> None:
        self.target = target
        self.backend = backend
        self.seed = seed
        self.defects = tuple(defects)
        self.say = say
        self._cleanup = contextlib.ExitStack()
        self._infra: LocalInfra | None = None

    def __enter__(self) -> Stacks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._cleanup.close()

    @contextlib.contextmanager
    def fresh(self) -> Iterator[Stack]:
        """A started stack, torn down on the way out."""
        if self.backend != "local":
            with open_stack(
                self.target, self.backend, seed=self.seed, defects=self.defects, say=self.say
            ) as s:
                yield s
            return
        from harness.stack.local import LocalStack

        stack = LocalStack(self._local_infra(), self.target, defects=self.defects, seed=self.seed)
        try:
            stack.start()
            yield stack
        finally:
            stack.close()

    def _local_infra(self) -> LocalInfra:
        if self._infra is None:
            from harness.process.pidfiles import PidFiles
            from harness.stack.infra import LocalInfra

            for line in PidFiles.default().reap_stale():
                self.say(f"chaos-audit: {line}")
            infra = LocalInfra(seed=self.seed)
            self._cleanup.callback(infra.close)
            infra.start()
            self._infra = infra
        return self._infra
