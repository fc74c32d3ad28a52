"""The target's observations on a started stack, with its holder ids mapped onto the stack's services.

One builder for the scenarios (``ScenarioRun.observe``) and the session (``wait inflight
SERVICE``): the adapter that reads the store or the API, and the holder map that turns a target's
worker ids (or pids) into the target file's service names.
"""

from __future__ import annotations

from harness.stack.base import Stack
from harness.target.adapter import AdapterContext, build_adapter
from harness.target.holders import HolderMap
from harness.target.observe import Observer


def stack_observer(stack: Stack, *, used: set[str] | None = None) -> Observer:
    """An :class:`Observer` of ``stack`` (``used`` collects the contract entries it reads)."""
    context = AdapterContext(
        target=stack.target, db_dsn=lambda: stack.db_dsn or None, api_url=lambda: stack.api_url
    )
    holders = HolderMap(stack.target, lambda: service_pids(stack))
    return Observer(
        stack.target,
        lambda: stack.db_dsn or None,
        adapter=build_adapter(stack.target, context),
        used=used,
        holder_of=holders.service,
    )


def service_pids(stack: Stack) -> dict[str, int]:
    """The started services' pids, where the backend has them (for ``observe.holder_pid``)."""
    out: dict[str, int] = {}
    for name in stack.started:
        try:
            pid = getattr(stack.process(name), "pid", None)
        except Exception:  # a backend without process handles: no pid mapping there
            continue
        if isinstance(pid, int):
            out[name] = pid
    return out
