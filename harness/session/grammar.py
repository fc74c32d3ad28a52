"""The session's command language: one line in, one validated :class:`Command` out (or a clear error).

The parser knows the target's service and link names, so a typo is refused before anything is
injected, with the names that would have worked (``unknown service 'worker-9' (services: api,
db, worker-1, worker-2)``). The same names feed readline's completion. Durations are ``200ms``,
``1.5s``, ``2m`` (a bare number means seconds). A script file is these lines, one per line, with
``#`` comments. Every fault of the registry (:mod:`harness.faults.registry`) can also be injected
by name, ``inject FAULT [TARGET] [NAME=VALUE ...]``, so a fault added there is usable here at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import ConfigError, HarnessError
from harness.faults import registry

#: canonical item states a ``wait`` can wait for (plus ``done``: every item of the session finished)
WAIT_STATES = ("queued", "processing", "completed", "failed", "retrying", "timeout", "dead", "done")
#: pacing waits on the provider: ``inflight`` a call is in flight, ``hit`` the active provider fault
#: answered a call. They put a fault on work instead of on an idle moment, so a replay lands it the
#: same way; unlike a state, a pacing wait that times out lets the script go on (it only paces).
PACING_WAITS = ("inflight", "hit")

#: verb -> (usage, what it does); the order is the order of ``help``
HELP: dict[str, tuple[str, str]] = {
    "status": ("status", "batches and items by state, the per-item strip, active faults with their age"),
    "start": ("start batch N | start SERVICE", "create a batch of N items, or start a stopped service"),
    "retry": ("retry BATCH", "retry the failed items of the session's BATCH-th batch (retry-failed)"),
    "cancel": ("cancel BATCH", "cancel the session's BATCH-th batch"),
    "retrigger": (
        "retrigger BATCH",
        "send the BATCH-th batch's create again with the same idempotency key and payload: the "
        "target must answer the same batch (check idempotent_create)",
    ),
    "kill": ("kill SERVICE", "SIGKILL a service (db: crash PostgreSQL); heal or restart brings it back"),
    "pause": ("pause SERVICE", "SIGSTOP a service (db: PostgreSQL); heal resumes it"),
    "resume": ("resume SERVICE", "SIGCONT a paused service"),
    "restart": ("restart SERVICE", "stop and start a service (db: crash and restart PostgreSQL)"),
    "partition": ("partition LINK", "blackhole a link both ways (connections hang)"),
    "latency": ("latency LINK DURATION [jitter DURATION]", "add latency to a link (e.g. 200ms)"),
    "provider": (
        "provider STATUS|hang|delay DURATION|trickle DURATION|malformed [item N|call N] [for DURATION]"
        " | provider baseline DURATION",
        "provider answers STATUS (e.g. 500), hangs, is slow, trickles its body (one byte per "
        "DURATION) or answers a malformed body; for item N of the last batch or the N-th call; "
        "healed after DURATION or by heal. baseline: every call the faults leave alone answers after "
        "DURATION (the provider's own latency, not a fault: work stays in flight long enough to hit)",
    ),
    "inject": (
        "inject FAULT [TARGET] [NAME=VALUE ...]",
        "inject any fault of the registry by name (help inject lists them); heal removes it",
    ),
    "heal": ("heal [all|NAME]", "heal every fault, or those on one service, link, provider or db"),
    "load": (
        "load RATE | load stop",
        "keep creating one-item batches at RATE per second through the API (Locust, as explore's "
        "--load) until load stop or the end of the session; they are not the session's batches",
    ),
    "check": (
        "check [NAME ...]",
        "run the SQL invariants and the ledger checkers now (or only the named checks); in a "
        "--script replay a violated check stops the script (exit 1)",
    ),
    "report": ("report", "write audit.json / audit.html (the session's timeline) into the report dir"),
    "watch": ("watch [DURATION]", "refresh the status view (default 10s; Enter stops it)"),
    "wait": (
        "wait DURATION | wait STATE|done|inflight|hit [TIMEOUT] | wait inflight SERVICE [TIMEOUT]",
        "pause a script, or wait until an item is in STATE (done: every item finished); default 30s. "
        "States are sampled every 50 ms: a shorter one can be missed (slow the provider: provider baseline; "
        "hold it: provider hang); once every item is done, a wait for a state none is in ends at once. "
        "inflight: until the provider has a call in flight (of the item SERVICE holds, where the "
        "target says who holds its items); hit: until the active provider fault answered a call "
        "(these two pace a fault; at their timeout the script goes on)",
    ),
    "save": ("save FILE", "write this session's commands (with their pauses) as a replayable script"),
    "help": ("help [COMMAND]", "this list, or one command's usage"),
    "quit": ("quit", "heal every fault, write the report, stop the stack (also: exit, EOF, Ctrl-C)"),
}
ALIASES = {"exit": "quit", "?": "help"}

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


class CommandError(HarnessError):
    """A line the session cannot run; the message says why and what would work."""


@dataclass(frozen=True, kw_only=True)
class Names:
    """What the parser checks names against: the target file's services and links."""

    services: tuple[str, ...]
    links: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Command:
    """One parsed line; only the fields its verb uses are set."""

    verb: str
    line: str
    name: str | None = None  #: service, link, heal target, wait state, file, help topic or fault
    count: int | None = None  #: batch size, provider status, item seq or call number
    item: int | None = None  #: provider rule: the item's seq in the newest batch
    call: int | None = None  #: provider rule: the n-th work call
    duration_s: float | None = None  #: latency, delay, watch / wait time
    rate: float | None = None  #: load: requests per second
    jitter_s: float | None = None
    for_s: float | None = None  #: auto-heal after this long
    target: str | None = None  #: inject: the service or link (None: the fault's fixed target)
    params: tuple[tuple[str, object], ...] = ()  #: inject: the fault's parameters


def parse_duration(text: str) -> float:
    """``200ms`` -> 0.2, ``10s`` -> 10.0, ``2m`` -> 120.0, ``3`` -> 3.0 (seconds)."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise CommandError(f"bad duration {text!r} (expected e.g. 200ms, 10s, 2m)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def parse(line: str, names: Names) -> Command | None:
    """Parse one line; None for a blank line or a comment. Raises :class:`CommandError`."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    words = text.split()
    verb = ALIASES.get(words[0].lower(), words[0].lower())
    args = words[1:]
    if verb not in HELP:
        raise CommandError(f"unknown command {words[0]!r} (commands: {', '.join(HELP)}; try help)")
    parser = _PARSERS.get(verb, _no_args)
    return parser(verb, args, text, names)


def usage(verb: str) -> str:
    return f"usage: {HELP[verb][0]}"


def help_text(topic: str | None = None) -> str:
    """``help``: every command with what it does; ``help kill``: one."""
    if topic:
        verb = ALIASES.get(topic, topic)
        if verb not in HELP:
            raise CommandError(f"unknown command {topic!r} (commands: {', '.join(HELP)})")
        text = f"{HELP[verb][0]}\n  {HELP[verb][1]}"
        if verb == "inject":
            text += "\nfaults:\n" + "\n".join(
                f"  {f.usage()}\n      {f.summary}" for f in registry.all_faults()
            )
        return text
    lines = [f"  {u}\n      {d}" for u, d in HELP.values()]
    return "commands:\n" + "\n".join(lines) + "\ndurations: 200ms, 10s, 2m; # starts a comment; Tab completes"


# -- per-verb parsers ---------------------------------------------------------------------------
def _no_args(verb: str, args: list[str], line: str, names: Names) -> Command:
    if args:
        raise CommandError(f"{verb} takes no arguments; {usage(verb)}")
    return Command(verb=verb, line=line)


def _service(verb: str, args: list[str], line: str, names: Names) -> Command:
    if len(args) != 1:
        raise CommandError(usage(verb))
    return Command(verb=verb, line=line, name=_known(args[0], names.services, "service"))


def _link(verb: str, args: list[str], line: str, names: Names) -> Command:
    if len(args) != 1:
        raise CommandError(usage(verb))
    return Command(verb=verb, line=line, name=_known(args[0], names.links, "link"))


def _start(verb: str, args: list[str], line: str, names: Names) -> Command:
    if len(args) == 2 and args[0] == "batch":
        return Command(verb="start", line=line, name="batch", count=_int(args[1], "batch size", minimum=1))
    if len(args) == 1 and args[0] != "batch":
        return Command(verb="start", line=line, name=_known(args[0], names.services, "service"))
    raise CommandError(usage(verb))


def _latency(verb: str, args: list[str], line: str, names: Names) -> Command:
    if len(args) not in (2, 4) or (len(args) == 4 and args[2] != "jitter"):
        raise CommandError(usage(verb))
    link = _known(args[0], names.links, "link")
    jitter = parse_duration(args[3]) if len(args) == 4 else None
    return Command(verb=verb, line=line, name=link, duration_s=parse_duration(args[1]), jitter_s=jitter)


def _provider(verb: str, args: list[str], line: str, names: Names) -> Command:
    if not args:
        raise CommandError(usage(verb))
    kind, rest = args[0].lower(), args[1:]
    if kind == "baseline":
        if len(rest) != 1:
            raise CommandError("usage: provider baseline DURATION (e.g. provider baseline 100ms)")
        return Command(verb=verb, line=line, name=kind, duration_s=parse_duration(rest[0]))
    status: int | None = None
    delay: float | None = None
    if kind in ("delay", "trickle"):
        if not rest:
            raise CommandError(f"provider {kind} needs a duration, e.g. provider {kind} 200ms")
        delay, rest = parse_duration(rest[0]), rest[1:]
    elif kind not in ("hang", "malformed"):
        status = _int(kind, "provider status (or hang / delay)", minimum=100)
        if status > 599:
            raise CommandError(f"provider status {status}: expected an HTTP status 100-599")
        kind = "status"
    item = call = None
    for_s = None
    while rest:
        if len(rest) < 2:
            raise CommandError(usage(verb))
        word, value, rest = rest[0].lower(), rest[1], rest[2:]
        if word == "item":
            item = _int(value, "item number", minimum=1)
        elif word == "call":
            call = _int(value, "call number", minimum=1)
        elif word == "for":
            for_s = parse_duration(value)
        else:
            raise CommandError(f"provider: unexpected {word!r}; {usage(verb)}")
    if item is not None and call is not None:
        raise CommandError("provider: give item N or call N, not both")
    return Command(
        verb=verb, line=line, name=kind, count=status, item=item, call=call, duration_s=delay, for_s=for_s
    )


def _inject(verb: str, args: list[str], line: str, names: Names) -> Command:
    if not args:
        raise CommandError(usage(verb))
    try:
        fault = registry.get(args[0])
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    rest, target = args[1:], None
    if fault.fixed_target() is None:
        if not rest or "=" in rest[0]:
            raise CommandError(f"inject {fault.name} needs a {fault.acts_on}; usage: inject {fault.usage()}")
        choices = names.services if fault.acts_on == "service" else names.links
        target, rest = _known(rest[0], choices, fault.acts_on), rest[1:]
    elif rest and "=" not in rest[0]:
        if rest[0] != fault.acts_on:
            raise CommandError(f"{fault.name} acts on the {fault.acts_on}; usage: inject {fault.usage()}")
        rest = rest[1:]
    known = {p.name: p for p in fault.params}
    params: dict[str, object] = {}
    for word in rest:
        key, sep, value = word.partition("=")
        if not sep or key not in known:
            what = f"unknown parameter {key!r}" if sep else f"unexpected {word!r}"
            raise CommandError(f"inject {fault.name}: {what}; usage: inject {fault.usage()}")
        try:
            params[key] = known[key].read(value)
        except ValueError as exc:
            raise CommandError(f"inject {fault.name}: {exc}") from None
    missing = [p.name for p in fault.params if p.required and p.name not in params]
    if missing:
        raise CommandError(f"inject {fault.name}: {missing[0]}= is required; usage: inject {fault.usage()}")
    return Command(verb=verb, line=line, name=fault.name, target=target, params=tuple(params.items()))


def _heal(verb: str, args: list[str], line: str, names: Names) -> Command:
    if len(args) > 1:
        raise CommandError(usage(verb))
    name = args[0] if args else "all"
    if name != "all":
        _known(name, (*names.services, *names.links, "provider", "db"), "service or link")
    return Command(verb=verb, line=line, name=name)


def _batch(verb: str, args: list[str], line: str, names: Names) -> Command:
    if len(args) != 1:
        raise CommandError(usage(verb))
    return Command(verb=verb, line=line, count=_int(args[0], "batch number", minimum=1))


def _check(verb: str, args: list[str], line: str, names: Names) -> Command:
    from harness.session.checks import check_names

    known = check_names()
    for name in args:
        _known(name, known, "check")
    return Command(verb=verb, line=line, name=" ".join(args) or None)


def _timed(verb: str, args: list[str], line: str, names: Names) -> Command:
    if verb == "watch":
        if len(args) > 1:
            raise CommandError(usage(verb))
        return Command(verb=verb, line=line, duration_s=parse_duration(args[0]) if args else 10.0)
    if args and args[0].lower() == "inflight" and len(args) in (2, 3) and args[1] in names.services:
        timeout = parse_duration(args[2]) if len(args) == 3 else 30.0
        return Command(verb=verb, line=line, name="inflight", target=args[1], duration_s=timeout)
    if len(args) not in (1, 2):
        raise CommandError(usage(verb))
    if args[0].lower() in WAIT_STATES + PACING_WAITS:
        timeout = parse_duration(args[1]) if len(args) == 2 else 30.0
        return Command(verb=verb, line=line, name=args[0].lower(), duration_s=timeout)
    if len(args) == 2:
        known = ", ".join(WAIT_STATES + PACING_WAITS)
        raise CommandError(f"wait: unknown state {args[0]!r} (states: {known})")
    return Command(verb=verb, line=line, duration_s=parse_duration(args[0]))


def _load(verb: str, args: list[str], line: str, names: Names) -> Command:
    if len(args) != 1:
        raise CommandError(usage(verb))
    if args[0].lower() == "stop":
        return Command(verb=verb, line=line, name="stop")
    try:
        rate = float(args[0])
    except ValueError:
        rate = 0.0
    if not 0 < rate < float("inf"):  # also refuses nan
        raise CommandError(f"bad load rate {args[0]!r} (expected requests per second above 0, or stop)")
    return Command(verb=verb, line=line, rate=rate)


def _file(verb: str, args: list[str], line: str, names: Names) -> Command:
    if len(args) != 1:
        raise CommandError(usage(verb))
    return Command(verb=verb, line=line, name=args[0])


def _help(verb: str, args: list[str], line: str, names: Names) -> Command:
    if len(args) > 1:
        raise CommandError(usage(verb))
    if args:
        help_text(args[0])  # validates the topic
    return Command(verb=verb, line=line, name=args[0] if args else None)


def _known(name: str, choices: Sequence[str], what: str) -> str:
    if name not in choices:
        plural = {"service": "services", "link": "links", "check": "checks"}.get(what, "names")
        raise CommandError(f"unknown {what} {name!r} ({plural}: {', '.join(sorted(choices)) or 'none'})")
    return name


def _int(text: str, what: str, *, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CommandError(f"bad {what} {text!r} (expected a whole number)") from None
    if value < minimum:
        raise CommandError(f"bad {what} {value} (expected at least {minimum})")
    return value


_PARSERS = {
    "kill": _service,
    "pause": _service,
    "resume": _service,
    "restart": _service,
    "partition": _link,
    "start": _start,
    "latency": _latency,
    "provider": _provider,
    "inject": _inject,
    "heal": _heal,
    "watch": _timed,
    "wait": _timed,
    "save": _file,
    "load": _load,
    "retry": _batch,
    "cancel": _batch,
    "retrigger": _batch,
    "check": _check,
    "help": _help,
}


# -- completion ---------------------------------------------------------------------------------
def completions(before_cursor: str, names: Names) -> list[str]:
    """Words that may follow ``before_cursor`` (a partial line), for readline's completer."""
    words = before_cursor.split()
    if before_cursor.endswith(" ") or not words:
        words.append("")
    prefix, done = words[-1], words[:-1]
    if not done:
        options: Sequence[str] = [*HELP, *ALIASES]
    else:
        options = _next_words(done[0].lower(), done[1:], names)
    return [o for o in options if o.startswith(prefix)]


def _next_words(verb: str, done: list[str], names: Names) -> Sequence[str]:
    if verb in ("kill", "pause", "resume", "restart") and not done:
        return names.services
    if verb in ("partition", "latency") and not done:
        return names.links
    if verb == "inject":
        return _inject_words(done, names)
    if verb == "start" and not done:
        return ["batch", *names.services]
    if verb == "heal" and not done:
        return ["all", *names.services, *names.links, "provider"]
    if verb == "provider":
        return (
            ["500", "503", "429", "hang", "delay", "trickle", "malformed", "baseline"]
            if not done
            else ["item", "call", "for"]
        )
    if verb == "latency" and len(done) == 2:
        return ["jitter"]
    if verb == "wait" and not done:
        return WAIT_STATES + PACING_WAITS
    if verb == "wait" and done == ["inflight"]:
        return names.services
    if verb == "load" and not done:
        return ["stop"]
    if verb == "help" and not done:
        return list(HELP)
    return []


def _inject_words(done: list[str], names: Names) -> Sequence[str]:
    """``inject``'s completions: a fault's name, then its service or link, then ``NAME=``."""
    if not done:
        return list(registry.FAULTS)
    fault = registry.FAULTS.get(done[0])
    if fault is None:
        return []
    if len(done) == 1 and fault.fixed_target() is None:
        return names.services if fault.acts_on == "service" else names.links
    given = {w.partition("=")[0] for w in done[1:]}
    return [f"{p.name}=" for p in fault.params if p.name not in given]
