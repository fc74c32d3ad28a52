"""The ``chaos-audit`` console script.

Each sub-command lives in its own module exposing ``configure(parser)`` and ``main(args) -> int``;
this module only wires them together, so ``chaos-audit proxy`` does not import the audit machinery.
Exit codes: 0 success / gate passed, 1 gate failed, 2 bad usage or invalid config, 3 run incomplete.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from harness.errors import ConfigError

#: sub-command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "proxy": ("harness.faults.proxy.cli", "run the Toxiproxy-compatible fault proxy server"),
    "provider": ("harness.faults.provider.cli", "run the mock external provider with its control API"),
    "run": ("harness.run.command", "audit a target, write the report, exit with the CI gate's decision"),
    "matrix": (
        "harness.matrix.command",
        "prove every scenario can fail: audit each defect of the reference target",
    ),
    "session": (
        "harness.session.command",
        "interactive chaos console against a live stack: inject and heal faults, watch states",
    ),
    "explore": (
        "harness.explore.command",
        "random fault schedules under load, checked continuously; shrinks a violation to a script",
    ),
    "target": (
        "harness.target.check_command",
        "check a target file: exercise its contract on a live stack, say which scenarios can run",
    ),
    "heal": (
        "harness.stack.heal",
        "undo every fault of the audit on a running environment (after a killed run, too)",
    ),
    "images": ("harness.images.cli", "build the docker backend's container images (--offline: no registry)"),
}

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser; only ``command``'s module is imported (and configures its options),
    so one sub-command's dependencies can never break another (``chaos-audit proxy`` stays light)."""
    parser = argparse.ArgumentParser(
        prog="chaos-audit",
        description="Fault-injection audit of background-job and workflow systems.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.configure(cmd)
            cmd.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(args_list)
    try:
        code: int = args._module.main(args)
    except ConfigError as exc:
        where = f" (field: {exc.field})" if exc.field else ""
        print(f"chaos-audit: error: {exc}{where}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("chaos-audit: interrupted", file=sys.stderr)
        return EXIT_INCOMPLETE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
