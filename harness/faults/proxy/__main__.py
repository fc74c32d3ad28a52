"""``python -m harness.faults.proxy``: the proxy server without the rest of the ``chaos-audit`` CLI."""

from __future__ import annotations

import argparse
import sys

from harness.faults.proxy import cli


def run(argv: list[str] | None = None) -> int:
    """Parse ``argv`` with the ``proxy`` sub-command's options and run the server."""
    parser = argparse.ArgumentParser(prog="python -m harness.faults.proxy", description=cli.__doc__)
    cli.configure(parser)
    return cli.main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(run())
