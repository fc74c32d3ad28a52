"""Sustained load for ``chaos-audit explore --load``: run by Locust as a subprocess, never imported.

Importing locust into the harness would let gevent patch its interpreter, so ``load.py`` runs
``python -m locust -f`` on this file. Each user creates one-item batches with a fresh idempotency
key at a constant pace (``LOAD_PER_USER`` requests/s), and reads one batch's progress now and then,
so the API, the queue and the workers carry real traffic while faults are active. Everything
target-specific comes from the environment (rendered from the target file's trigger):

    LOAD_METHOD, LOAD_PATH, LOAD_BODY   the create call ({"count": 1, "priority": 0})
    LOAD_KEY_HEADER                     idempotency header ('' for none)
    LOAD_PER_USER                       requests per second of one user
"""

from __future__ import annotations

import json
import os
import uuid

from locust import FastHttpUser, constant_throughput, task

METHOD = os.environ.get("LOAD_METHOD", "POST")
PATH = os.environ.get("LOAD_PATH", "/v1/batches")
BODY = json.loads(os.environ.get("LOAD_BODY", '{"count": 1, "priority": 0}'))
KEY_HEADER = os.environ.get("LOAD_KEY_HEADER", "Idempotency-Key")
PER_USER = float(os.environ.get("LOAD_PER_USER", "1"))


class Load(FastHttpUser):
    """One client creating small batches at a constant pace; errors while faults are active count
    as failures in Locust's stats, not as findings."""

    wait_time = constant_throughput(PER_USER)

    @task
    def create(self) -> None:
        headers = {KEY_HEADER: str(uuid.uuid4())} if KEY_HEADER else {}
        self.client.request(METHOD, PATH, json=BODY, headers=headers, name="create")
