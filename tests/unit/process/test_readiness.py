"""Wait strategies and wait_until: ready paths, the timeout message (what was tried + hint), fail-fast."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.errors import ReadinessTimeout, ServiceError
from harness.process.readiness import (
    DEFAULT_TIMEOUT_S,
    AllOf,
    HttpReady,
    LogReady,
    PortReady,
    ReadinessContext,
    SqlReady,
    redact_dsn,
    wait_until,
)
from harness.process.service import ProcessService

MakeService = Callable[..., ProcessService]

#: a readiness wait that must end early (by an exit) or succeed: only a failure reaches it, and a
#: loaded machine has room under half of it
READY_TIMEOUT_S = 60.0


def test_timeout_message_says_what_was_tried_and_ends_with_a_hint(free_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(ReadinessTimeout) as info:
        wait_until(PortReady("127.0.0.1", free_port), timeout=0.3, interval=0.05, name="db")
    message = str(info.value)
    assert time.monotonic() - started < DEFAULT_TIMEOUT_S / 2  # its own timeout, not the default
    assert message.startswith(f"db not ready: TCP connect to 127.0.0.1:{free_port}: ")
    assert re.search(r": \d+ attempts over 0\.\d s, last: connection refused; hint: ", message)


def test_service_timeout_hint_points_at_its_log_with_the_last_lines(
    make_service: MakeService, free_port: int
) -> None:
    code = """
        import time
        print("booting: loading config", flush=True)
        print("still booting", flush=True)
        time.sleep(60)
    """
    url = f"http://127.0.0.1:{free_port}/health"
    svc = make_service("api", code, readiness=AllOf(LogReady("still booting"), HttpReady(url)))
    svc.start()
    with pytest.raises(ReadinessTimeout) as info:
        svc.wait_ready(timeout=0.5)
    message = str(info.value)
    assert f"api not ready: all of [a log line matching 'still booting', GET {url}]" in message
    assert f"last: GET {url}: connection refused" in message
    assert f"hint: read the service log at {svc.log_path} (last lines:" in message
    assert "  booting: loading config\n  still booting)" in message


def test_a_child_that_exits_fails_fast_with_its_exit_code_and_log_tail(make_service: MakeService) -> None:
    code = """
        import sys
        print("fatal: DATABASE_URL is not set", flush=True)
        sys.exit(3)
    """
    svc = make_service("worker-1", code, readiness=LogReady("consuming"))
    svc.start()
    started = time.monotonic()
    with pytest.raises(ServiceError) as info:
        svc.wait_ready(timeout=READY_TIMEOUT_S)
    assert not isinstance(info.value, ReadinessTimeout)
    assert time.monotonic() - started < READY_TIMEOUT_S / 2  # the exit ended the wait, not the timeout
    message = str(info.value)
    assert message.startswith("worker-1 exited with code 3 while waiting for a log line matching 'consuming'")
    assert "fatal: DATABASE_URL is not set" in message


def test_a_service_without_strategy_is_ready_while_alive(make_service: MakeService) -> None:
    svc = make_service("plain", "import time; time.sleep(60)")
    with pytest.raises(ServiceError, match="never started"):
        svc.wait_ready()
    svc.start()
    assert svc.wait_ready(timeout=READY_TIMEOUT_S) < READY_TIMEOUT_S


def test_http_status_expectations(http_service: ProcessService) -> None:
    http_service.start()
    http_service.wait_ready(timeout=READY_TIMEOUT_S)
    base = http_service.readiness.url.rsplit("/", 1)[0]  # type: ignore[union-attr]
    ctx = ReadinessContext()
    assert HttpReady(f"{base}/missing").check(ctx) == "status 404 (expected 200)"
    assert HttpReady(f"{base}/missing", expect_status=lambda s: s == 404).check(ctx) is None
    assert HttpReady(f"{base}/health", expect_body=lambda b: b.strip() == "ok").check(ctx) is None
    reason = HttpReady(f"{base}/health", expect_body=lambda b: "healthy" in b).check(ctx)
    assert reason == "status 200 but the body did not match: 'ok\\n'"


def test_log_ready_only_counts_output_after_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_text("listening on 8000\n")
    first_run = ReadinessContext(log_path=log, log_offset=0)
    second_run = ReadinessContext(log_path=log, log_offset=log.stat().st_size)
    strategy = LogReady(r"listening on \d+")
    assert strategy.check(first_run) is None
    assert strategy.check(second_run) == f"no match yet in {log} (0 bytes since start)"
    with log.open("a") as f:
        f.write("listening on 8001\n")
    assert strategy.check(second_run) is None
    assert LogReady("x").check(ReadinessContext()) == "no log file to read"


def test_sql_ready_reports_a_refused_connection_without_the_password(free_port: int) -> None:
    dsn = f"postgresql://app:s3cret@127.0.0.1:{free_port}/jobs"
    strategy = SqlReady(dsn, attempt_timeout=1)
    assert strategy.describe() == f"SELECT 1 on postgresql://app:***@127.0.0.1:{free_port}/jobs"
    reason = strategy.check(ReadinessContext())
    assert reason is not None and "refused" in reason.lower()
    assert redact_dsn("host=x password=hunter2 user=u") == "host=x password=*** user=u"


def test_a_probe_that_raises_is_a_reason_not_a_crash() -> None:
    class Broken:
        def describe(self) -> str:
            return "a broken probe"

        def check(self, context: ReadinessContext) -> str | None:
            raise KeyError("oops")

    with pytest.raises(ReadinessTimeout, match=r"last: KeyError: 'oops'; hint: the service has no log"):
        wait_until(Broken(), timeout=0.05)


def test_all_of_needs_at_least_one_strategy() -> None:
    with pytest.raises(ValueError):
        AllOf()
