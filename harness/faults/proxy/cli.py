"""``chaos-audit proxy``: run the Toxiproxy-compatible fault proxy as a process.

Flags follow ``toxiproxy-server`` so scripts written for it keep working: each long option is also
accepted with Toxiproxy's single dash (``-port 8474``, ``-config FILE``, ``-version``). Unlike
Toxiproxy, ``--seed`` really seeds every random draw (toxicity, jitter, slicer, http_error).

On start the process prints one line, ``chaos-audit proxy API listening on http://HOST:PORT``, to
stdout (flushed), so a parent started with ``--port 0`` can read the actual port. SIGINT and
SIGTERM close the API, every listener and every connection, then exit 0.

Unlike Toxiproxy, the API is guarded: with ``CHAOS_AUDIT_CONTROL_TOKEN`` set every API request
must send ``Authorization: Bearer <token>``, and a non-loopback ``--host`` without it exits 2
(see :mod:`harness.faults.control_token`). Proxied connections are never asked for anything.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from harness import __version__
from harness.faults.control_token import TOKEN_ENV, token_from_env
from harness.faults.proxy.server import ProxyServer

log = logging.getLogger("harness.faults.proxy")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``proxy`` sub-command's options to ``parser``."""
    parser.add_argument(
        "--host",
        "-host",
        default="127.0.0.1",
        help=f"API address (default: %(default)s; any other address needs ${TOKEN_ENV})",
    )
    parser.add_argument(
        "--port", "-port", type=int, default=8474, help="API port, 0 = any (default: %(default)s)"
    )
    parser.add_argument("--config", "-config", type=Path, default=None, help="JSON file in /populate format")
    parser.add_argument(
        "--links",
        "--target",
        dest="links",
        type=Path,
        default=None,
        metavar="FILE",
        help="a target file: create a proxy per link (listen -> upstream) at start, so its stack can "
        "run through this proxy whether an audit runs or not",
    )
    parser.add_argument("--seed", "-seed", type=int, default=None, help="seed of every random draw")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("LOG_LEVEL", "info"),
        choices=("debug", "info", "warning", "error"),
        help="log level (default: $LOG_LEVEL or info)",
    )
    parser.add_argument(
        "--version", "-version", action="version", version=f"chaos-audit proxy version {__version__}"
    )


def link_specs(path: Path) -> list[dict[str, str]]:
    """The proxies of a target file's links, in ``/populate`` form; ConfigError naming a bad link."""
    from harness.errors import ConfigError
    from harness.target.load import load_target

    target, _ = load_target(str(path))
    specs = []
    for name, link in target.links.items():
        if not (link.listen and link.upstream):
            raise ConfigError(
                f"links.{name}: --links needs listen and upstream (where the service connects, and "
                "where the proxy forwards)",
                field=f"links.{name}",
            )
        specs.append({"name": name, "listen": link.listen, "upstream": link.upstream})
    return specs


def _create_links(server: ProxyServer, specs: list[dict[str, str]]) -> None:
    """Create the links' proxies with ``--config``'s exact rules (a /populate body, applied in-process)."""
    import json
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(specs, f)
    try:
        errors = server.populate_file(Path(f.name))
    finally:
        Path(f.name).unlink(missing_ok=True)
    for error in errors:
        log.error("--links: %s", error)
    for spec in specs:
        log.info("link %s: %s -> %s", spec["name"], spec["listen"], spec["upstream"])


def main(args: argparse.Namespace) -> int:
    """Run the server until SIGINT/SIGTERM; returns the exit code."""
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    specs = link_specs(args.links) if args.links is not None else []  # ConfigError before listening
    server = ProxyServer(host=args.host, port=args.port, seed=args.seed, token=token_from_env())
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        if args.config is not None:
            for error in server.populate_file(args.config):
                log.error("%s", error)
        if specs:
            _create_links(server, specs)
        print(f"chaos-audit proxy API listening on {server.url}", flush=True)
        log.info("seed: %s", "random" if args.seed is None else args.seed)
        log.info("API token: %s", f"required (${TOKEN_ENV})" if server.requires_token else "none (loopback)")
        while not stop.wait(1.0):
            pass
        log.info("shutting down")
    finally:
        server.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
