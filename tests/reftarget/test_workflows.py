"""Workflows of the reference target in-process: pipeline, retry, failure, recover, detectors."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from reftarget import defects
from reftarget.config import Settings
from reftarget.db import Database
from reftarget.workflow import store

from harness.faults.provider.client import ProviderClient as ProviderControl
from tests.reftarget.helpers import LogBuffer, WorkerThreads, rows, wait_for

ALICE = {"Authorization": "Bearer token-alice"}
BOB = {"Authorization": "Bearer token-bob"}
ADMIN = {"Authorization": "Bearer token-admin"}


def start(api: Any, headers: dict[str, str] = ALICE) -> str:
    answer = api.post("/v1/workflows", json={"input": {"topic": "t"}}, headers=headers)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def wait_state(api: Any, wf: str, *states: str, timeout: float = 10.0) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        doc = api.get(f"/v1/workflows/{wf}", headers=ADMIN).json()
        return doc if doc["status"] in states else None

    doc: dict[str, Any] = wait_for(reached, timeout=timeout, what=f"workflow {wf} in {states}")
    return doc


def steps(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in doc["steps"]}


def calls(provider: ProviderControl, wf: str, step: str) -> int:
    return sum(1 for e in provider.ledger() if e.item_id == f"{wf}/{step}")


def test_pipeline_completes_from_stored_results_and_needs_a_token(
    api: Any, workers: WorkerThreads, provider: ProviderControl
) -> None:
    assert api.post("/v1/workflows", json={}).status_code == 401
    wf = start(api)
    assert api.get(f"/v1/workflows/{wf}", headers=BOB).status_code == 403
    workers.start(1)
    doc = wait_state(api, wf, "completed")
    s = steps(doc)
    assert [s[n]["status"] for n in ("fetch", "generate", "enrich", "store")] == ["completed"] * 4
    assert s["generate"]["result"]["source"] == s["fetch"]["result"]["document"]
    assert [calls(provider, wf, n) for n in ("fetch", "generate", "enrich", "store")] == [1, 1, 1, 0]
    kinds = [e["kind"] for e in api.get(f"/v1/workflows/{wf}/history", headers=ALICE).json()["events"]]
    assert kinds.count("committed") == 4 and kinds[-1] == "completed"


def test_transient_failures_are_retried_and_logged_with_the_correlation_id(
    api: Any, workers: WorkerThreads, provider: ProviderControl, logs: LogBuffer
) -> None:
    wf = start(api)
    provider.add_rule(f"{wf}/generate", attempt=1, status=503)
    provider.add_rule(f"{wf}/generate", attempt=2, status=503)
    workers.start(1)
    doc = wait_state(api, wf, "completed")
    assert steps(doc)["generate"]["attempts"] == 3
    retries = logs.events("step.retrying", workflow_id=wf)
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all(r["correlation_id"] == doc["correlation_id"] and r["correlation_id"] for r in retries)


def test_exhausted_retries_fail_notify_and_a_manual_retry_or_skip_resumes(
    api: Any, workers: WorkerThreads, provider: ProviderControl
) -> None:
    wf, opt = start(api), start(api)
    rule = provider.add_rule(f"{wf}/generate", status=503)
    provider.add_rule(f"{opt}/enrich", status=422)
    workers.start(1)
    doc = wait_state(api, wf, "failed")
    assert calls(provider, wf, "generate") == 3 and "generate" in doc["failure_reason"]
    notes = api.get(f"/v1/workflows/{wf}/notifications", headers=ALICE).json()["notifications"]
    assert [n["kind"] for n in notes] == ["step_failed"]
    assert "Step failed after multiple attempts" in notes[0]["message"]
    assert api.post(f"/v1/workflows/{wf}/steps/generate/skip", headers=ALICE).status_code == 409
    provider.remove_rule(rule)
    assert api.post(f"/v1/workflows/{wf}/steps/generate/retry", headers=ALICE).status_code == 202
    wait_state(api, wf, "completed")
    assert calls(provider, wf, "fetch") == 1
    wait_state(api, opt, "failed")
    assert api.post(f"/v1/workflows/{opt}/steps/enrich/skip", headers=ALICE).status_code == 202
    assert steps(wait_state(api, opt, "completed"))["enrich"]["status"] == "skipped"


@pytest.mark.parametrize("defect", [None, "silent_failure", "no_step_retry"])
def test_failure_defects(
    api: Any, workers: WorkerThreads, provider: ProviderControl, defect: str | None
) -> None:
    defects.activate([defect] if defect else [])
    wf = start(api)
    provider.add_rule(f"{wf}/generate", status=503)
    workers.start(1)
    wait_state(api, wf, "failed")
    notes = api.get(f"/v1/workflows/{wf}/notifications", headers=ALICE).json()["notifications"]
    assert len(notes) == (0 if defect == "silent_failure" else 1)
    assert calls(provider, wf, "generate") == (1 if defect == "no_step_retry" else 3)


@pytest.mark.parametrize("defect", [None, "recover_without_owner_check", "restart_from_first_step"])
def test_recover_resumes_from_the_checkpoint_for_owner_or_admin_only(
    api: Any, workers: WorkerThreads, provider: ProviderControl, defect: str | None
) -> None:
    defects.activate([defect] if defect else [])
    wf = start(api)
    rule = provider.add_rule(f"{wf}/generate", status=422)
    workers.start(1)
    wait_state(api, wf, "failed")
    assert api.post(f"/v1/workflows/{wf}/recover").status_code == 401
    assert api.post(f"/v1/workflows/{wf}/recover", headers=BOB).status_code == (
        202 if defect == "recover_without_owner_check" else 403
    )
    provider.remove_rule(rule)
    if defect != "recover_without_owner_check":
        answer = api.post(f"/v1/workflows/{wf}/recover", headers=ALICE)
        assert answer.status_code == 202, answer.text
    wait_state(api, wf, "completed")
    assert calls(provider, wf, "fetch") == (2 if defect == "restart_from_first_step" else 1)
    assert api.post(f"/v1/workflows/{wf}/recover", headers=ADMIN).status_code == 409


@pytest.mark.parametrize("defect", [None, "no_inactivity_detection"])
def test_inactive_workflow_is_interrupted_and_listed_for_admins(
    api: Any, settings: Settings, defect: str | None
) -> None:
    defects.activate([defect] if defect else [])
    wf = start(api)  # no worker: nothing ever runs the first step
    if defect:
        with pytest.raises(AssertionError):
            wait_state(api, wf, "interrupted", timeout=settings.wf_inactivity_s + 1.5)
        return
    doc = wait_state(api, wf, "interrupted", timeout=settings.wf_inactivity_s + 2)
    assert "no step activity" in doc["failure_reason"]
    listed = api.get("/v1/admin/workflows/attention", headers=ADMIN).json()["workflows"]
    assert [(w["id"], bool(w["failure_reason"])) for w in listed] == [(wf, True)]
    assert api.get("/v1/admin/workflows/attention", headers=ALICE).status_code == 403


@pytest.mark.parametrize("defect", [None, "recovery_loop"])
def test_startup_recovery_is_bounded(settings: Settings, db: str, defect: str | None) -> None:
    defects.activate([defect] if defect else [])
    s = replace(settings, wf_max_recoveries=2)
    conn_db = Database(db, actor="test")
    wf = conn_db.run(
        lambda c: store.create(c, owner="alice", payload=None, correlation_id="c1", max_attempts=3)
    )
    outcomes = []
    for _ in range(3):  # a worker held the step and died each time
        conn_db.run(lambda c: c.execute(
            "UPDATE workflow_steps SET status = 'running', worker_id = 'gone', lease_expires_at = now() "
            "WHERE workflow_id = %s AND idx = 1", (wf,)))  # fmt: skip
        outcomes += [o["outcome"] for o in conn_db.run(lambda c: store.recover_incomplete(c, s))]
    assert outcomes == (["resumed"] * 3 if defect else ["resumed", "resumed", "gave_up"])
    final = rows(db, "SELECT status, needs_attention FROM workflows WHERE id = %s", (wf,))[0]
    assert final == ({"status": "running", "needs_attention": False} if defect
                     else {"status": "failed", "needs_attention": True})  # fmt: skip
    conn_db.close()


@pytest.mark.parametrize("defect", [None, "late_commit_accepted"])
def test_a_reassigned_step_refuses_the_old_holders_commit(
    settings: Settings, db: str, provider: ProviderControl, logs: LogBuffer, defect: str | None
) -> None:
    from reftarget.worker.provider_client import ProviderClient
    from reftarget.workflow.runner import WorkflowRunner

    defects.activate([defect] if defect else [])
    conn_db = Database(db, actor="test")
    wf = conn_db.run(
        lambda c: store.create(c, owner="alice", payload=None, correlation_id="c1", max_attempts=3)
    )
    runners = {}
    for wid in ("w1", "w2"):
        s = replace(settings, worker_id=wid)
        runners[wid] = WorkflowRunner(
            s, Database(db, actor=wid), ProviderClient(s.provider_url, timeout_s=1.0)
        )
    old = runners["w1"].db.run(runners["w1"]._claim)  # w1 holds fetch ...
    assert old is not None
    conn_db.run(
        lambda c: c.execute(
            "UPDATE workflow_steps SET lease_expires_at = now() - interval '1 s' "
            "WHERE workflow_id = %s AND idx = 1",
            (wf,),
        )
    )  # ... and goes silent
    new = runners["w2"].db.run(runners["w2"]._claim)
    assert new is not None and new.fencing_token == old.fencing_token + 1
    runners["w2"].db.run(lambda c: runners["w2"]._commit(c, new, {"document": "by w2"}))
    runners["w1"].db.run(lambda c: runners["w1"]._commit(c, old, {"document": "by w1"}))  # it wakes up
    events = rows(db, "SELECT kind, worker_id FROM workflow_events WHERE workflow_id = %s AND step = 'fetch' "
                      "AND kind IN ('reassigned', 'committed', 'commit_rejected') ORDER BY id", (wf,))  # fmt: skip
    result = rows(db, "SELECT result FROM workflow_steps WHERE workflow_id = %s AND idx = 1", (wf,))[0][
        "result"
    ]
    if defect:
        assert [e["kind"] for e in events] == ["reassigned", "committed", "committed"]
        assert result == {"document": "by w1"}
    else:
        assert [(e["kind"], e["worker_id"]) for e in events] == [
            ("reassigned", "w2"), ("committed", "w2"), ("commit_rejected", "w1")]  # fmt: skip
        assert result == {"document": "by w2"}
        assert logs.events("step.lost_ownership", workflow_id=wf)
    for r in runners.values():
        r.db.close()
        r.provider.close()
    conn_db.close()
