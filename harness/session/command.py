"""``chaos-audit session``: an interactive chaos console against a live stack (a game day by hand).

Order of things, as ``chaos-audit run``: validate everything first (a wrong target file, backend
or script is exit 2 naming the field, with nothing started), then start (or reach) the stack,
replay ``--script`` if given, then read commands on the console. However the session ends (quit,
EOF, Ctrl-C, SIGTERM) the same cleanup runs, shielded from a second signal: heal every fault,
stop sampling, write the report (audit.json / audit.html with the session's timeline, the
history, the session as a script), tear the stack down. Exit codes: 0 quit or EOF, 1 a script
command failed, 2 bad usage, 3 interrupted (Ctrl-C, SIGTERM) or the stack could not start.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness import options
from harness.errors import ConfigError, HarnessError
from harness.options import report_dir_of, seed_of
from harness.target.model import Target

if TYPE_CHECKING:
    from harness.stack.base import Stack

_Say = Callable[[str], None]

DEFAULT_REPORT_DIR = "chaos-session"
EXIT_OK, EXIT_SCRIPT_FAILED, EXIT_INCOMPLETE = 0, 1, 3
#: how a session is stopped from outside; each heals, reports, tears down (SIGHUP: terminal closed)
SESSION_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def configure(parser: argparse.ArgumentParser) -> None:
    options.add_target(parser)
    options.add_backend(parser)
    options.add_seed(parser, default="the script's, or random")
    parser.add_argument("--script", default=None, metavar="FILE", help="replay a saved session first")
    options.add_defect(parser)
    options.add_report_dir(parser, DEFAULT_REPORT_DIR)


@dataclass(frozen=True, kw_only=True)
class SessionPlan:
    """A validated session request."""

    target: Target
    target_file: str | None
    backend: str
    seed: int
    defects: tuple[str, ...]
    script: tuple[str, ...] | None
    report_dir: Path

    def command(self) -> str:
        argv = ["chaos-audit", "session", "--seed", str(self.seed)]
        if self.target_file:
            argv += ["--target", self.target_file]
        if self.backend != "local":
            argv += ["--backend", self.backend]
        if self.defects:
            argv += ["--defect", ",".join(self.defects)]
        return shlex.join(argv)


def build_session_plan(args: argparse.Namespace) -> SessionPlan:
    """Validate the command line; raises ConfigError (exit 2) before anything starts."""
    from harness.run.plan import _split, _validate_defects
    from harness.session.script import load_script
    from harness.stack.backends import get_backend
    from harness.target.load import load_target

    target, path = load_target(args.target)
    is_reference = args.target is None or args.target == "reference"
    defects = _split(args.defect)
    _validate_defects(defects, target, is_reference)
    get_backend(args.backend).check_defects(defects)
    script = load_script(args.script) if args.script else None
    report_dir = report_dir_of(args)
    if script is not None:
        from harness.session.grammar import Names, parse

        names = Names(services=tuple(target.services), links=tuple(target.links))
        for number, line in enumerate(script.lines, 1):
            try:
                parse(line, names)
            except HarnessError as exc:
                raise ConfigError(
                    f"--script: {script.path}: command {number}: {exc}", field="--script"
                ) from exc
    seed = seed_of(args, script.seed if script else None)
    return SessionPlan(
        target=target,
        target_file=None if is_reference else str(path.resolve()),
        backend=args.backend,
        seed=seed,
        defects=defects,
        script=script.lines if script else None,
        report_dir=report_dir,
    )


def main(args: argparse.Namespace) -> int:
    from harness.process.signals import heal_on_interrupt, shield_interrupts
    from harness.stack.lifecycle import open_stack

    plan = build_session_plan(args)
    say = _printer()
    say(f"chaos-audit session: target {plan.target.name}, backend {plan.backend}, seed {plan.seed}")
    cleanup = contextlib.ExitStack()
    code = EXIT_OK
    with heal_on_interrupt(SESSION_SIGNALS):
        try:
            say("starting the stack...")
            opened = open_stack(plan.target, plan.backend, seed=plan.seed, defects=plan.defects, say=say)
            stack = cleanup.enter_context(opened)
            code = _run_session(plan, stack, cleanup, say)
        except KeyboardInterrupt as exc:
            say(f"\nchaos-audit session: {exc or 'interrupted'}; healing and stopping")
            code = EXIT_INCOMPLETE
        except HarnessError as exc:
            say(f"chaos-audit session: error: {exc}")
            code = EXIT_INCOMPLETE
        finally:
            with shield_interrupts():
                cleanup.close()
    say("chaos-audit session: stack stopped")
    return code


def _run_session(plan: SessionPlan, stack: Stack, cleanup: contextlib.ExitStack, say: _Say) -> int:
    from harness.session.console import Console, Quit
    from harness.session.engine import Session
    from harness.session.report import write_session_report
    from harness.session.script import save_script
    from harness.stack.lifecycle import should_sample

    session = Session(stack, seed=plan.seed, sample=should_sample(plan.backend, plan.target))

    def report() -> list[str]:
        paths = write_session_report(
            session,
            plan.report_dir,
            target_file=plan.target_file,
            backend=plan.backend,
            command=plan.command(),
        )
        return [f"report: {paths['html']} and {paths['json']} (script: {paths['script']})"]

    def save(file: str) -> list[str]:
        return [
            f"saved {len(session.typed)} commands to {save_script(session, file, command=plan.command())}"
        ]

    def finish() -> None:
        errors = session.close()
        for line in [*(f"heal error: {e}" for e in errors), *report()]:
            say(line)

    cleanup.callback(finish)  # before the stack's teardown (LIFO): heal, then report, then stop
    say(f"services: {', '.join(stack.target.services)}; links: {', '.join(stack.target.links) or 'none'}")
    interactive = sys.stdin.isatty()
    console = Console(session, interactive=interactive, report=report, save=save)
    say("type help for the commands; quit (or Ctrl-D) heals every fault and writes the report")
    try:
        if plan.script is not None and not console.replay(plan.script):
            return EXIT_SCRIPT_FAILED
        if plan.script is None or interactive:
            console.loop()
    except Quit:
        pass
    return EXIT_OK


def _printer() -> _Say:
    def say(text: str) -> None:
        print(text, flush=True)

    return say
