"""Command-line options every stack-starting command shares (run, explore, session, matrix, target check).

One definition each, so ``--target``, ``--backend``, ``--seed`` and ``--defect`` read and validate
the same way in every command, and a new backend shows up in all of them at once; and one reading
of the values every such command validates the same way (the report directory, the seed).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from harness.errors import ConfigError


def add_target(parser: argparse.ArgumentParser, *, text: str | None = None) -> None:
    """``--target FILE`` (default: the built-in reference target)."""
    parser.add_argument(
        "--target",
        default=None,
        metavar="FILE",
        help=text or "target file (YAML); default: the reference target",
    )


def add_backend(parser: argparse.ArgumentParser) -> None:
    """``--backend NAME``: the choices and their summaries come from the backend registry."""
    from harness.stack.backends import BACKENDS

    parser.add_argument(
        "--backend",
        default="local",
        choices=tuple(BACKENDS),
        help="; ".join(f"{b.name}: {b.summary}" for b in BACKENDS.values()),
    )


def add_seed(parser: argparse.ArgumentParser, *, default: str = "random, printed") -> None:
    """``--seed N``: every random draw of the command follows it."""
    parser.add_argument("--seed", default=None, type=int, help=f"seed of all randomness (default: {default})")


def add_defect(parser: argparse.ArgumentParser) -> None:
    """``--defect NAME``: start the target's services switched into one of its defects."""
    parser.add_argument(
        "--defect", default=None, metavar="NAME", help="switch the target into a defect (docs/scenarios.md)"
    )


def add_report_dir(parser: argparse.ArgumentParser, default: str) -> None:
    """``--report-dir DIR``."""
    parser.add_argument("--report-dir", default=default, metavar="DIR", help=f"default: ./{default}")


def new_seed() -> int:
    """A seed for a run given none (printed by every command, so the run can be repeated)."""
    return random.SystemRandom().randrange(1, 2**31)


def seed_of(args: argparse.Namespace, fallback: int | None = None) -> int:
    """``--seed``, else ``fallback`` (a session script's own seed), else a new one."""
    if args.seed is not None:
        return int(args.seed)
    return fallback if fallback is not None else new_seed()


def report_dir_of(args: argparse.Namespace) -> Path:
    """``--report-dir`` as an absolute path; ConfigError (exit 2) if it exists and is no directory."""
    report_dir = Path(args.report_dir).expanduser().resolve()
    if report_dir.exists() and not report_dir.is_dir():
        raise ConfigError(f"--report-dir: {report_dir} exists and is not a directory", field="--report-dir")
    return report_dir
