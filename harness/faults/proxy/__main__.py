"""``python -m harness.faults.proxy``: the proxy server without the rest of the ``chaos-audit`` CLI."""

from __future__ import annotations

import argparse
import sys

from harness.errors import ConfigError
from harness.faults.proxy import cli

PROG = "python -m harness.faults.proxy"


def run(argv: list[str] | None = None) -> int:
    """Parse ``argv`` with the ``proxy`` sub-command's options and run the server.

    A :class:`ConfigError` (port in use, missing control token) exits 2 with one line, as
    ``chaos-audit proxy`` does, rather than with a traceback.
    """
    parser = argparse.ArgumentParser(prog=PROG, description=cli.__doc__)
    cli.configure(parser)
    try:
        return cli.main(parser.parse_args(argv))
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run())
