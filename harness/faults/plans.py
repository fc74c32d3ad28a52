"""How each fault of the registry is made and undone on a stack: one plan function per fault.

A plan looks at the stack (is the fault allowed on that service, which proxy carries the link,
which store holds the queue) and returns a :class:`~harness.faults.registry.Step`: what the
history records, the inject and the heal, as two closures that have not run yet. Planning has no
side effect, so a fault refused here (a service that does not allow it, an unknown link) leaves
nothing to heal. The injector then registers the heal *before* it injects; so every heal below is
harmless when its inject never ran or ran half-way: SIGCONT to a running process, removing a toxic
or a rule that is not there, enabling an enabled link, starting a store that runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.errors import CapabilityMissing, ProxyNotFound
from harness.faults.provider.client import new_rule_id
from harness.faults.registry import Step

if TYPE_CHECKING:
    from harness.stack.base import Stack

Params = Mapping[str, Any]


# -- process faults ---------------------------------------------------------------------------------
def kill(stack: Stack, service: str, p: Params) -> Step:
    """SIGKILL; no heal of its own: ``restart`` brings the service back (the timeline ends it there)."""
    _allowed(stack, service, "kill")
    return Step(name="kill", target=service, inject=lambda: stack.process(service).kill())


def pause(stack: Stack, service: str, p: Params) -> Step:
    _allowed(stack, service, "pause")
    return Step(
        name="pause",
        target=service,
        inject=lambda: stack.process(service).pause(),
        heal=lambda: stack.process(service).resume(),  # SIGCONT to a running process: nothing happens
    )


def restart(stack: Stack, service: str, p: Params) -> Step:
    """Stop (when running) and start again, waiting until ready: a fault whose heal is its own end."""
    _allowed(stack, service, "restart")

    def inject() -> None:
        proc = stack.process(service)
        if proc.running:
            proc.stop()
        stack.start_service(service)

    return Step(name="restart", target=service, inject=inject)


def hold(stack: Stack, service: str, p: Params) -> Step:
    """Stop a running service until healed (a running stack's scenario that wants fewer workers)."""
    if service not in stack.started:
        return Step(name="hold", target=service, inject=lambda: None)  # not running: nothing to hold

    def inject() -> None:
        proc = stack.process(service)
        if proc.running:
            proc.stop()

    return Step(name="hold", target=service, inject=inject, heal=lambda: stack.start_service(service))


def broker_kill(stack: Stack, service: str, p: Params) -> Step:
    """SIGKILL the broker; healed by starting it again (same port, same data)."""
    _allowed(stack, service, "kill")
    return Step(
        name="broker_kill",
        target=service,
        inject=lambda: stack.process(service).kill(),
        heal=lambda: stack.start_service(service),  # a running broker: a no-op start
    )


# -- network faults (the fault proxy) -----------------------------------------------------------------
def partition(stack: Stack, link: str, p: Params) -> Step:
    """Both directions blackholed: packets vanish, connections hang (no RST).

    Healing removes the toxics, which closes the connections that crossed the partition, as a long
    partition does to real TCP connections. A toxic that was never added is no error to remove.
    """
    proxy = stack.proxy_name(link)
    streams = ("upstream", "downstream")

    def inject() -> None:
        for stream in streams:
            stack.proxy.add_toxic(proxy, "timeout", {"timeout": 0}, stream=stream, name=f"partition-{stream}")

    def heal() -> None:
        for stream in streams:
            with contextlib.suppress(Exception):
                stack.proxy.remove_toxic(proxy, f"partition-{stream}")

    return Step(name="partition", target=link, inject=inject, heal=heal)


def latency(stack: Stack, link: str, p: Params) -> Step:
    proxy, stream = stack.proxy_name(link), str(p["stream"])
    name, attributes = f"latency-{stream}", {"latency": p["ms"], "jitter": p["jitter"]}

    def heal() -> None:
        with contextlib.suppress(ProxyNotFound):  # interrupted before the toxic was added
            stack.proxy.remove_toxic(proxy, name)

    return Step(
        name="latency",
        target=link,
        details={"ms": p["ms"], "jitter": p["jitter"], "stream": stream},
        inject=lambda: stack.proxy.add_toxic(proxy, "latency", attributes, stream=stream, name=name),
        heal=heal,
    )


def link_down(stack: Stack, link: str, p: Params) -> Step:
    """Live connections dropped, new ones refused; enabling an enabled link is a no-op."""
    proxy = stack.proxy_name(link)
    return Step(
        name="link_down",
        target=link,
        inject=lambda: stack.proxy.disable(proxy),
        heal=lambda: stack.proxy.enable(proxy),
    )


# -- provider faults (mock provider rules) -----------------------------------------------------------
def provider_rule(name: str, **fixed: Any) -> Any:
    """The plan of a provider fault: one rule (``fixed`` answers plus the call's parameters).

    The rule's id is chosen before it exists, so its removal is registered first: an interrupt
    after the provider added it still removes it (a rule never added is a 404, which is fine).
    """

    def plan(stack: Stack, target: str, p: Params) -> Step:
        rule = {**{k: v for k, v in p.items() if v is not None}, **fixed}
        rule_id = new_rule_id(name)
        return Step(
            name=name,
            target="provider",
            details=rule,
            inject=lambda: stack.provider.add_rule(**rule, rule_id=rule_id),
            heal=lambda: stack.provider.remove_rule(rule_id, missing_ok=True),
        )

    return plan


# -- store faults --------------------------------------------------------------------------------------
def db_kill(stack: Stack, target: str, p: Params) -> Step:
    """SIGKILL PostgreSQL (postmaster and backends); healed by starting it (crash recovery)."""
    return Step(name="db_kill", target="db", inject=stack.kill_db, heal=stack.start_db)


def db_pause(stack: Stack, target: str, p: Params) -> Step:
    """SIGSTOP PostgreSQL: queries hang, connections stay open; healed by SIGCONT."""
    return Step(name="db_pause", target="db", inject=stack.pause_db, heal=stack.resume_db)


def queue_store_kill(stack: Stack, target: str, p: Params) -> Step:
    """The store holding the queue: the ``role: broker`` service when there is one, else PostgreSQL."""
    brokers = stack.target.services_with_role("broker")
    return broker_kill(stack, brokers[0], p) if brokers else db_kill(stack, "db", p)


def _allowed(stack: Stack, service: str, fault: str) -> None:
    """``services.<name>.faults`` of the target file must list the process fault."""
    spec = stack.target.services.get(service)
    if spec is None or fault not in spec.faults:
        raise CapabilityMissing(f"services.{service}.faults: {fault}")
