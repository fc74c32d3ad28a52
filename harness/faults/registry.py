"""The fault registry: every fault the harness can inject, each one value (a Jepsen nemesis).

A :class:`Fault` says what it is called (the name the history records), what it acts on (a
service, a link, the provider, the database, the queue's store), what it does in one line, which
parameters it takes, how it is made and undone on a stack (its plan, :mod:`harness.faults.plans`),
whether it heals, and how it reaches a running stack (a service's handle, the fault proxy, the
mock provider), which is what ``target check`` verifies before a scenario relies on it. Every
reader takes faults from here: the injector (:class:`~harness.faults.injector.Faults`), the
session console (its ``inject`` command, its verbs), ``target check`` (through the catalogue's
list of each scenario's faults) and the report's timeline. Adding a fault is one entry in
:data:`FAULTS` (and its plan).

Heal before inject: a plan hands back the heal together with the inject, and the injector
registers the heal before it injects, so a Ctrl-C between the two (or an inject failing half-way)
is still healed. Every heal is therefore harmless when its inject did not happen.

From outside (``explore``, a script)::

    from harness.faults import registry
    for fault in registry.all_faults():
        print(fault.name, fault.acts_on, fault.summary)
    faults = Faults(stack, history)
    faults.inject("latency", "worker-1-db", ms=300)
    faults.heal("latency", "worker-1-db")      # or faults.heal_all()
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.stack.base import Stack
    from harness.target.model import Target

#: what a fault's target names: a service of the target file, a link, or one of the fixed targets
ActsOn = Literal["service", "link", "provider", "db", "queue_store"]
#: how a fault ends: healed (by ``heal``), ``instant`` (its inject is its whole life, e.g. a
#: restart), or ``never`` by itself (a kill: a later restart brings the service back)
Heals = Literal["heal", "instant", "never"]
#: how it reaches the system: through the service's handle (on a running stack each such service
#: needs one: ``services.<name>.handle``), the fault proxy (a link), or the mock provider
Through = Literal["handle", "proxy", "provider"]
ParamKind = Literal["int", "ms", "str"]


@dataclass(frozen=True, kw_only=True)
class Param:
    """One parameter of a fault; ``default`` None and not ``required``: the fault does without."""

    name: str
    kind: ParamKind
    help: str
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()

    def read(self, text: str) -> Any:
        """The value from text (the console's ``NAME=VALUE``); ``ms`` takes ``200ms``, ``1.5s``, ``300``."""
        if self.kind == "str":
            value: Any = text
        elif self.kind == "ms":
            value = _milliseconds(text)
        else:
            try:
                value = int(text)
            except ValueError:
                raise ValueError(f"{self.name}: expected a whole number, got {text!r}") from None
        return self.check(value)

    def check(self, value: Any) -> Any:
        """``value`` when it fits the parameter; a ValueError naming it otherwise."""
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name}: expected one of {', '.join(self.choices)}, got {value!r}")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if (self.kind == "str" and not isinstance(value, str)) or (self.kind != "str" and not number):
            want = "text" if self.kind == "str" else "a number"
            raise ValueError(f"{self.name}: expected {want}, got {value!r}")
        return value


@dataclass(frozen=True, kw_only=True)
class Step:
    """One planned injection: what the history records, and the inject and heal, not yet run."""

    name: str
    target: str
    inject: Callable[[], Any]
    heal: Callable[[], Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)


Plan = Callable[["Stack", str, Mapping[str, Any]], Step]


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One fault: its name, what it acts on, how it is made and healed, how it is shown."""

    name: str
    acts_on: ActsOn
    summary: str
    plan: Plan
    heals: Heals = "heal"
    through: Through = "handle"
    params: tuple[Param, ...] = ()
    #: the session console's verb that injects it (None: only ``inject NAME``)
    verb: str | None = None
    #: a fault whose start on the same target ends this one's window in the timeline (kill: restart)
    ended_by: str | None = None

    def bind(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter's value: ``given`` checked (an unknown or missing one is a ConfigError
        naming it), the others their defaults."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            names = ", ".join(known) or "none"
            raise ConfigError(
                f"fault {self.name}: unknown parameter {unknown[0]!r} (parameters: {names})",
                field=f"{self.name}.{unknown[0]}",
            )
        values: dict[str, Any] = {}
        for p in self.params:
            if p.name not in given:
                if p.required:
                    raise ConfigError(f"fault {self.name}: {p.name} is required ({p.help})", field=p.name)
                values[p.name] = p.default
                continue
            try:
                values[p.name] = p.check(given[p.name])
            except ValueError as exc:
                raise ConfigError(f"fault {self.name}: {exc}", field=f"{self.name}.{p.name}") from None
        return values

    def fixed_target(self) -> str | None:
        """The one target a provider, database or queue-store fault has (None: a service or link)."""
        return None if self.acts_on in ("service", "link") else self.acts_on

    def label(self, target: str, details: Mapping[str, Any] | None = None) -> str:
        """How the report, the timeline and the console name one injection of it."""
        return f"{self.name} {target}"

    def usage(self) -> str:
        """``latency LINK ms=N [jitter=N] [stream=upstream|downstream]``, for help texts."""
        fixed = self.fixed_target()
        words = [self.name, f"[{fixed}]" if fixed else self.acts_on.upper()]
        for p in self.params:
            value = "|".join(p.choices) if p.choices else ("N" if p.kind in ("int", "ms") else "TEXT")
            words.append(f"{p.name}={value}" if p.required else f"[{p.name}={value}]")
        return " ".join(words)


@dataclass(frozen=True, order=True)
class FaultUse:
    """A fault a scenario injects and the role of what it acts on (``kill worker``, ``latency db``:
    latency on a link to a ``db`` service; ``db_kill``: the fixed target, no role).

    ``optional`` (written ``kill api?``): the scenario does without it when the target cannot take
    it (one failure mode less), so it never makes the scenario ``unknown``, like a ``needs`` entry
    ending in ``?``.
    """

    fault: str
    on: str = ""
    optional: bool = False

    @classmethod
    def parse(cls, text: str) -> FaultUse:
        """``"kill worker"``, ``"kill api?"``, ``"provider_outage"``."""
        optional = text.endswith("?")
        fault, _, on = text.removesuffix("?").partition(" ")
        return cls(fault, on, optional)

    @property
    def key(self) -> tuple[str, str]:
        """What an injection is compared by (a declared use, optional or not, covers it)."""
        return self.fault, self.on

    def __str__(self) -> str:
        text = f"{self.fault} {self.on}" if self.on else self.fault
        return text + ("?" if self.optional else "")


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


def _milliseconds(text: str) -> int:
    """``200ms`` -> 200, ``1.5s`` -> 1500, ``2m`` -> 120000; a bare number is milliseconds."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError(f"bad duration {text!r} (expected e.g. 200ms, 1.5s, 2m)")
    value, unit = float(match.group(1)), match.group(2) or "ms"
    return round(value * {"ms": 1, "s": 1000, "m": 60_000}[unit])


# -- the registry -----------------------------------------------------------------------------------
def _table() -> dict[str, Fault]:
    from harness.faults import plans

    scope = (
        Param(name="item_id", kind="str", help="only calls for this item id"),
        Param(name="nth", kind="int", help="only the n-th work call since the scenario began"),
    )
    entries = (
        Fault(name="kill", acts_on="service", plan=plans.kill, heals="never", verb="kill", ended_by="restart",
              summary="SIGKILL a service's process group (a crash); restart brings it back"),
        Fault(name="pause", acts_on="service", plan=plans.pause, verb="pause",
              summary="SIGSTOP a service (frozen, connections open); healed by SIGCONT"),
        Fault(name="restart", acts_on="service", plan=plans.restart, heals="instant", verb="restart",
              summary="stop a service (if running) and start it again, waiting until it is ready"),
        Fault(name="hold", acts_on="service", plan=plans.hold,
              summary="stop a service until healed (a scenario that wants fewer workers on a running stack)"),
        Fault(name="broker_kill", acts_on="service", plan=plans.broker_kill,
              summary="SIGKILL the broker; healed by starting it on the same port and data"),
        Fault(name="partition", acts_on="link", plan=plans.partition, through="proxy", verb="partition",
              summary="blackhole a link both ways: packets vanish, connections hang"),
        Fault(name="latency", acts_on="link", plan=plans.latency, through="proxy", verb="latency",
              summary="delay one direction of a link",
              params=(Param(name="ms", kind="ms", required=True, help="added latency"),
                      Param(name="jitter", kind="ms", default=0, help="random +- jitter"),
                      Param(name="stream", kind="str", default="upstream", help="direction",
                            choices=("upstream", "downstream")))),
        Fault(name="link_down", acts_on="link", plan=plans.link_down, through="proxy",
              summary="take a link down: live connections dropped, new ones refused"),
        Fault(name="provider_outage", acts_on="provider", plan=plans.provider_rule("provider_outage"),
              through="provider", verb="provider", summary="every provider call answers an error status",
              params=(Param(name="status", kind="int", default=500, help="the HTTP status"),)),
        Fault(name="provider_error", acts_on="provider", plan=plans.provider_rule("provider_error"),
              through="provider", verb="provider", summary="one item's or the n-th call answers an error",
              params=(Param(name="status", kind="int", required=True, help="the HTTP status"), *scope)),
        Fault(name="provider_hang", acts_on="provider", plan=plans.provider_rule("provider_hang", hang=True),
              through="provider", verb="provider", summary="provider calls never answer", params=scope),
        Fault(name="provider_delay", acts_on="provider", plan=plans.provider_rule("provider_delay"),
              through="provider", verb="provider", summary="provider calls answer late",
              params=(Param(name="delay_ms", kind="ms", required=True, help="the delay"), *scope)),
        Fault(name="provider_trickle", acts_on="provider", plan=plans.provider_rule("provider_trickle"),
              through="provider", verb="provider", summary="provider answers trickle, a byte at a time",
              params=(Param(name="trickle_ms", kind="ms", required=True, help="the pause per byte"), *scope)),
        Fault(name="provider_malformed", acts_on="provider",
              plan=plans.provider_rule("provider_malformed", malformed=True), through="provider",
              verb="provider", summary="provider answers 200 with a malformed body", params=scope),
        Fault(name="db_kill", acts_on="db", plan=plans.db_kill, verb="kill",
              summary="SIGKILL PostgreSQL; healed by starting it (crash recovery)"),
        Fault(name="db_pause", acts_on="db", plan=plans.db_pause, verb="pause",
              summary="SIGSTOP PostgreSQL: queries hang, connections stay open; healed by SIGCONT"),
        Fault(name="queue_store_kill", acts_on="queue_store", plan=plans.queue_store_kill,
              summary="SIGKILL the queue's store (the broker, else PostgreSQL); healed by starting it"),
    )  # fmt: skip
    return {f.name: f for f in entries}


FAULTS: Mapping[str, Fault] = _table()


def all_faults() -> list[Fault]:
    """Every registered fault, in the registry's order."""
    return list(FAULTS.values())


def get(name: str) -> Fault:
    """The fault called ``name``; a ConfigError naming the known ones otherwise."""
    try:
        return FAULTS[name]
    except KeyError:
        raise ConfigError(f"unknown fault {name!r} (faults: {', '.join(FAULTS)})", field="fault") from None


def for_verb(verb: str, acts_on: ActsOn) -> Fault:
    """The fault a console verb means on this kind of target (``kill`` on the database: ``db_kill``)."""
    for fault in FAULTS.values():
        if fault.verb == verb and fault.acts_on == acts_on:
            return fault
    raise ConfigError(f"no fault for {verb} on a {acts_on}", field="fault")


def label(name: str, target: str, details: Mapping[str, Any] | None = None) -> str:
    """The label of a recorded fault (a name the registry does not know, e.g. from an older history,
    reads as ``name target``)."""
    fault = FAULTS.get(name)
    return fault.label(target, details) if fault is not None else f"{name} {target}"


def use_of(fault: Fault, target: str, spec: Target) -> FaultUse:
    """The use an injection makes: the fault and the role of what it acts on in the target file."""
    if fault.acts_on == "service":
        service = spec.services.get(target)
        return FaultUse(fault.name, str(service.role) if service is not None else target)
    if fault.acts_on == "link":
        link = spec.links.get(target)
        to = spec.services.get(link.to) if link is not None else None
        return FaultUse(fault.name, str(to.role) if to is not None else target)
    return FaultUse(fault.name)


#: the order ``target check`` names handle needs in
_HANDLE_ROLES = ("api", "worker", "db", "broker", "queue_store")


def handle_needs(uses: Iterable[FaultUse]) -> tuple[str, ...]:
    """``handles.<role>`` for each role whose services the faults act on through a handle.

    On a running stack (external backend) every service of such a role needs a handle; the other
    backends start the services themselves. A database fault needs the ``db`` service's handle and
    the queue store's kill the broker's (or the database's).
    """
    roles: set[str] = set()
    for use in uses:
        fault = get(use.fault)
        if fault.through != "handle" or use.optional:
            continue
        roles.add(use.on if fault.acts_on == "service" else fault.acts_on)
    order = {r: i for i, r in enumerate(_HANDLE_ROLES)}
    return tuple(f"handles.{r}" for r in sorted(roles, key=lambda r: (order.get(r, len(order)), r)))


def check_uses(uses: Iterable[FaultUse]) -> list[str]:
    """Problems of a declared list: unknown faults, or a role given where the fault has a fixed target."""
    problems = []
    for use in uses:
        fault = FAULTS.get(use.fault)
        if fault is None:
            problems.append(f"{use}: unknown fault (faults: {', '.join(FAULTS)})")
        elif bool(use.on) == (fault.fixed_target() is not None):
            problems.append(f"{use}: {fault.name} acts on a {fault.acts_on}")
    return problems
