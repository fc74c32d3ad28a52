"""A worker of a parallel run: a pytest child that runs the scenarios it is handed, one at a time.

``chaos-audit run --jobs N`` starts N pytest children with ``-p harness.run.feed
--chaos-feed-fd FD``. Each collects every selected scenario as a serial run would, then, instead
of running them in collection order, reads node ids from the pipe ``FD`` (written by
:mod:`harness.run.pool`, which decides who runs what: :mod:`harness.run.schedule`) and runs each
through the ordinary ``pytest_runtest_protocol``: the plugin's fixtures, verdict records, progress
events, histories and Allure results are exactly a serial run's. After each scenario it appends
``{"event": "done", "nodeid": ...}`` to its progress file (the pool's cue to hand it the next
one); EOF on the pipe ends the session (``run.json`` written, the stack stopped).

Session-scoped fixtures (the worker's PostgreSQL, proxy and provider) must live from one
scenario to the next, but pytest tears fixtures down up to the ``nextitem`` it is given, and the
next scenario is not known yet when one ends. So every scenario runs with :class:`Between` as its
``nextitem``: an item that is never run, placed under the deepest node all scenarios share (the
session or the scenarios' folder). Teardown then stops exactly what the next scenario, whichever
it is, would set up again (function and module fixtures) and keeps the session's; the real end is
the session's own teardown, as in a serial run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

FEED_OPTION = "--chaos-feed-fd"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("chaos-audit").addoption(
        FEED_OPTION,
        default=None,
        type=int,
        help="run the scenarios whose node ids arrive on this fd, one per line, until EOF "
        "(a worker of chaos-audit run --jobs N)",
    )


class Between(pytest.Item):
    """The ``nextitem`` of every fed scenario: "another scenario follows" (never run)."""

    def runtest(self) -> None:  # pragma: no cover - never scheduled
        raise RuntimeError("the placeholder between two fed scenarios is never run")


def shared_parent(items: Sequence[pytest.Item], session: pytest.Session) -> pytest.Collector:
    """The deepest collector every item descends from (at least the session)."""
    chains = [item.listchain()[:-1] for item in items]
    shared: pytest.Collector = session
    for nodes in zip(*chains, strict=False):
        if any(node is not nodes[0] for node in nodes) or not isinstance(nodes[0], pytest.Collector):
            break
        shared = nodes[0]
    return shared


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    fd = session.config.getoption(FEED_OPTION)
    if fd is None:
        return None  # an ordinary session: pytest's own loop
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        raise session.Interrupted(f"{session.testsfailed} error(s) during collection")
    if session.config.option.collectonly:
        return True
    items = {item.nodeid: item for item in session.items}
    between = Between.from_parent(shared_parent(session.items, session), name="chaos-audit-between-scenarios")
    with os.fdopen(fd, "r", encoding="utf-8") as feed:
        for line in feed:
            nodeid = line.rstrip("\n")
            item = items.get(nodeid)
            if item is not None:
                item.config.hook.pytest_runtest_protocol(item=item, nextitem=between)
            _done(session.config, nodeid, known=item is not None)
            if session.shouldfail:
                raise session.Failed(session.shouldfail)
            if session.shouldstop:
                raise session.Interrupted(session.shouldstop)
    return True


def _done(config: pytest.Config, nodeid: str, *, known: bool) -> None:
    """Tell the pool this worker is free again (one line, one write: it never reads half of it)."""
    path = config.getoption("--chaos-progress")
    if not path:
        return
    event: dict[str, Any] = {"event": "done", "nodeid": nodeid}
    if not known:
        event["error"] = "no such scenario in this worker's collection"
    with open(Path(path), "a") as f:
        f.write(json.dumps(event) + "\n")
