"""``chaos-audit provider``: run the mock provider in the foreground until SIGINT/SIGTERM.

Prints one line ``chaos-audit provider: listening on http://HOST:PORT`` on stdout once the port
is bound (with ``--port 0`` that is how a launcher learns the port). The server machinery is
imported inside :func:`main`, so building the CLI's parser stays cheap.
"""

from __future__ import annotations

import argparse
import logging

from harness.errors import ConfigError

LOG_LEVELS = ("debug", "info", "warning", "error")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``provider`` sub-command's options."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on; 0 picks a free one (printed on stdout)"
    )
    parser.add_argument("--log-level", default="warning", choices=LOG_LEVELS, help="default: %(default)s")


def main(args: argparse.Namespace) -> int:
    """Serve until stopped; 0 after a SIGINT/SIGTERM stop, ``ConfigError`` if the port is unusable."""
    from harness.faults.provider.server import ProviderServer

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"port {args.port} is not in 0..65535", field="--port")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        server = ProviderServer(args.host, args.port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
            "hint: pick another --port, or --port 0 for a free one",
            field="--port",
        ) from exc
    print(f"chaos-audit provider: listening on {server.url}", flush=True)
    server.run()
    return 0
