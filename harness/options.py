"""Command-line options every stack-starting command shares (run, explore, session, matrix, target check).

One definition each, so ``--target``, ``--backend``, ``--seed`` and ``--defect`` read and validate
the same way in every command, and a new backend shows up in all of them at once.
"""

from __future__ import annotations

import argparse


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
