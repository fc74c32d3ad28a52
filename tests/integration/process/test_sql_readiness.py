"""SqlReady against the real embedded PostgreSQL of the test session."""

from __future__ import annotations

from harness.process.readiness import ReadinessContext, SqlReady, wait_until
from harness.store.postgres import EmbeddedPostgres


def test_sql_ready_on_a_live_server(embedded_pg: EmbeddedPostgres) -> None:
    if not embedded_pg.running:
        embedded_pg.start()
    assert SqlReady(embedded_pg.dsn()).check(ReadinessContext()) is None
    assert wait_until(SqlReady(embedded_pg.dsn(), "SELECT count(*) FROM pg_database"), timeout=60) < 60
    reason = SqlReady(embedded_pg.dsn(), "SELECT * FROM no_such_table").check(ReadinessContext())
    assert reason is not None and "no_such_table" in reason
