"""``chaos-audit provider``: run the mock provider in the foreground until SIGINT/SIGTERM.

Prints one line ``chaos-audit provider: listening on http://HOST:PORT`` on stdout once the port
is bound (with ``--port 0`` that is how a launcher learns the port). The server machinery is
imported inside :func:`main`, so building the CLI's parser stays cheap.

``/_control`` asks for ``Authorization: Bearer $CHAOS_AUDIT_CONTROL_TOKEN`` when that variable is
set, and a non-loopback ``--host`` without it exits 2: in a shared environment the control API
must not be an open switch for outages (:mod:`harness.faults.control_token`).
"""

from __future__ import annotations

import argparse
import logging

from harness.errors import ConfigError
from harness.faults.control_token import TOKEN_ENV, token_from_env

LOG_LEVELS = ("debug", "info", "warning", "error")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``provider`` sub-command's options."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help=f"address to listen on (default: %(default)s; any other address needs ${TOKEN_ENV})",
    )
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
        server = ProviderServer(args.host, args.port, token=token_from_env())
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
            "hint: pick another --port, or --port 0 for a free one",
            field="--port",
        ) from exc
    print(f"chaos-audit provider: listening on {server.url}", flush=True)
    if server.requires_token:
        logging.getLogger(__name__).info("control API: token required ($%s)", TOKEN_ENV)
    server.run()
    return 0
