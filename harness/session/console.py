"""The console: read a line, run it, print what it says; on a terminal with readline history and completion.

Why no background refresh: a thread writing above a readline prompt needs cursor tricks that
break as soon as the user types or the terminal is not a terminal (a pipe, a CI log, pexpect). So
the view is printed only between commands: ``status`` shows it in full, every other command ends
with a one-line summary (items by state, active faults with their age), and ``watch [DURATION]``
redraws the full view in place every half second until DURATION passes or Enter is pressed. When
stdin is not a terminal (or for ``--script``), nothing is redrawn and no escape code is written:
``watch`` prints a plain snapshot each second, and commands are echoed after the prompt so the
output reads like a transcript. The only background threads are the state sampler and the timers
of ``provider ... for DURATION``, and neither writes to the terminal.
"""

from __future__ import annotations

import select
import sys
import time
from collections.abc import Callable, Iterable
from typing import TextIO

from harness.checkers.result import Validity
from harness.session import grammar
from harness.session.engine import Session, Typed

PROMPT = "chaos> "
WATCH_INTERVAL_S = 0.5
#: commands whose output is the view or a file, so no summary line follows them
VIEW_VERBS = frozenset({"help", "status", "watch", "save", "report"})


class Quit(Exception):
    """``quit`` was typed (or the script said so)."""


class Console:
    """Feeds lines to a :class:`Session`; ``report`` and ``save`` are callbacks of the command."""

    def __init__(
        self,
        session: Session,
        *,
        interactive: bool,
        report: Callable[[], list[str]],
        save: Callable[[str], list[str]],
        out: TextIO = sys.stdout,
    ) -> None:
        self.session = session
        self.interactive = interactive
        self._report = report
        self._save = save
        self.out = out
        if interactive:
            self._setup_readline()

    # -- input ---------------------------------------------------------------------------------------
    def replay(self, lines: Iterable[str]) -> bool:
        """Run a script's lines (echoed after the prompt); False when one fails (the replay stops)."""
        for number, line in enumerate(lines, 1):
            self.say(f"{PROMPT}{line}")
            if not self.one(line):
                self.say(f"script stopped at command {number}: {line}")
                return False
            if self._violated(line):
                self.say(f"script stopped at command {number}: {line} (a check was violated)")
                return False
        return True

    def _violated(self, line: str) -> bool:
        """A script's ``check`` that found a violation fails the script: a saved reproducer (e.g.
        ``chaos-audit explore``'s) exits 1 when it reproduces."""
        words = line.split("#", 1)[0].split()
        if not words or words[0].lower() != "check":
            return False
        return any(c.valid is Validity.FALSE for c in self.session.checks)

    def loop(self) -> None:
        """Read commands until quit or EOF (both return normally; Ctrl-C and SIGTERM raise)."""
        while True:
            line = self._read()
            if line is None:
                self.say("(EOF)")
                return
            self.one(line)

    def one(self, line: str) -> bool:
        """Run one line; prints its output or its error. Raises :class:`Quit` on quit."""
        try:
            cmd = grammar.parse(line, self.session.names)
            if cmd is None:
                if not line.strip():  # Enter on an empty line: a fresh summary (states, faults' age)
                    self._notes()
                    self.say(self.session.summary())
                return True
            out = self._run(cmd)
        except grammar.CommandError as exc:
            self._notes()
            self.say(f"error: {exc}")
            return False
        self._notes()
        for text in out:
            self.say(text)
        if cmd.verb not in VIEW_VERBS:
            self.say(self.session.summary())
        return True

    def _run(self, cmd: grammar.Command) -> list[str]:
        if cmd.verb == "quit":
            raise Quit
        if cmd.verb == "help":
            return [grammar.help_text(cmd.name)]
        if cmd.verb == "save":
            return self._save(str(cmd.name))
        if cmd.verb in ("watch", "report"):
            started = time.monotonic()
            out = self.watch(float(cmd.duration_s or 0)) if cmd.verb == "watch" else self._report()
            self.session.typed.append(Typed(line=cmd.line, started=started, ended=time.monotonic()))
            return out
        return self.session.run(cmd)

    def _read(self) -> str | None:
        if self.interactive:
            try:
                return input(PROMPT)
            except EOFError:
                return None
        raw = sys.stdin.readline()
        if not raw:
            return None
        self.say(f"{PROMPT}{raw.rstrip()}")
        return raw

    # -- output --------------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _notes(self) -> None:
        for note in self.session.take_notes():
            self.say(f"note: {note}")

    def watch(self, duration: float) -> list[str]:
        """Refresh the view for ``duration`` seconds (Enter stops it on a terminal)."""
        deadline = time.monotonic() + duration
        if not self.interactive:
            while True:
                self.say("\n".join(self.session.view_lines()))
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                time.sleep(min(1.0, left))
        self.say(f"watching for {duration:g}s (Enter stops)")
        drawn = 0
        while True:
            lines = self.session.view_lines()
            if drawn:
                self.out.write(f"\x1b[{drawn}F\x1b[J")  # back to the view's first line, clear below
            self.say("\n".join(lines))
            drawn = len(lines)
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            ready, _, _ = select.select([sys.stdin], [], [], min(WATCH_INTERVAL_S, left))
            if ready:
                sys.stdin.readline()
                return ["(watch stopped)"]

    # -- readline ------------------------------------------------------------------------------------
    def _setup_readline(self) -> None:
        try:
            import readline
        except ImportError:  # no readline on this Python: plain input() still works
            return
        names = self.session.names
        matches: list[str] = []

        def complete(text: str, state: int) -> str | None:
            if state == 0:
                before = readline.get_line_buffer()[: readline.get_endidx()]
                found = grammar.completions(before, names)
                matches[:] = [m if m.endswith("=") else m + " " for m in found]
            return matches[state] if state < len(matches) else None

        readline.set_completer_delims(" \t")
        readline.set_completer(complete)
        readline.parse_and_bind("tab: complete")
