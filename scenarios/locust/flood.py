"""Locust flood for TEST-RR-Q03: create ``FLOOD_TOTAL`` jobs as fast as the target accepts them.

Run by the scenario as a subprocess (importing locust inside pytest breaks: gevent patches the
interpreter), never collected by pytest. Everything target-specific comes from the environment,
rendered by the scenario from the target file's trigger:

    FLOOD_TOTAL       jobs to create in all (the run quits once every one has an answer)
    FLOOD_METHOD      HTTP method of the create call (POST)
    FLOOD_PATH        its path (/v1/batches)
    FLOOD_BODY        its JSON body ({"count": 1, "priority": 0})
    FLOOD_KEY_HEADER  idempotency header name ('' for none); each job gets a fresh key

Any answer other than 2xx is a failure in locust's stats, which the scenario reads from
``--json-file``.
"""

from __future__ import annotations

import itertools
import json
import os
import uuid

import gevent
from locust import FastHttpUser, constant, task
from locust.exception import StopUser

TOTAL = int(os.environ.get("FLOOD_TOTAL", "1000"))
METHOD = os.environ.get("FLOOD_METHOD", "POST")
PATH = os.environ.get("FLOOD_PATH", "/v1/batches")
BODY = json.loads(os.environ.get("FLOOD_BODY", '{"count": 1, "priority": 0}'))
KEY_HEADER = os.environ.get("FLOOD_KEY_HEADER", "Idempotency-Key")

_issued = itertools.count()
_answered = itertools.count(1)


class Flood(FastHttpUser):
    """One client creating jobs back to back; all users together stop at ``FLOOD_TOTAL``."""

    wait_time = constant(0)

    @task
    def create_job(self) -> None:
        if next(_issued) >= TOTAL:
            raise StopUser()
        headers = {KEY_HEADER: str(uuid.uuid4())} if KEY_HEADER else {}
        with self.client.request(
            METHOD, PATH, json=BODY, headers=headers, name="create", catch_response=True
        ) as resp:
            if not 200 <= (resp.status_code or 0) < 300:
                resp.failure(f"HTTP {resp.status_code}")
        if next(_answered) == TOTAL:  # the last answer: end the run (from outside this greenlet)
            gevent.spawn(self.environment.runner.quit)
