"""Scenario 8: marking a running call task failed through the REST API cancels its call in Votel.

The kill switch's promise (issue 16): the operator's ``on_kill`` runs when Airflow kills the task
on its Celery worker, and cancels the call the task started. The call rings for ten minutes on a
sandbox of the scenario's own, so only the kill can end it early.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.e2e.rest import AirflowRest, state_name
from tests.e2e.watch import figure, wait_until
from votel_airflow import endpoints
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_kill_call"
TASK_ID = "call"
CONN_ID = "votel_kill"
CALL_STAGE_SECONDS = 600.0
#: Airflow notices a task marked failed at the task's next heartbeat, then gives on_kill its time.
CANCEL_TIMEOUT = 120.0


def _call_status(sandbox: SandboxServer, key: str, call_id: str) -> str:
    url = sandbox.base_url + endpoints.path(endpoints.CALL, call_id=call_id)
    response = requests.get(url, headers={"X-API-Key": key}, timeout=10)
    response.raise_for_status()
    return str(response.json()["status"])


def test_marking_a_running_call_task_failed_cancels_its_call(airflow: AirflowRest) -> None:
    with SandboxServer(call_stage_seconds=CALL_STAGE_SECONDS) as sandbox:
        key = sandbox.admin.create_account()
        airflow.set_connection(CONN_ID, "votel", sandbox.base_url, key)
        run = airflow.trigger(DAG_ID)
        [call] = wait_until("the task's call", lambda: sandbox.admin.records(key, "call"), 300, 0.5)
        wait_until(
            "the call task running",
            lambda: state_name(airflow.task_instance(DAG_ID, run, TASK_ID).state) == "running",
            60,
            0.5,
        )
        assert _call_status(sandbox, key, call["id"]) in ("queued", "ringing", "in_progress")

        marked = time.monotonic()
        airflow.fail(DAG_ID, run, TASK_ID)
        wait_until(
            "the call canceled in Votel",
            lambda: _call_status(sandbox, key, call["id"]) == "canceled",
            CANCEL_TIMEOUT,
            0.2,
        )
        canceled_after = time.monotonic() - marked
        cancels = sandbox.admin.records(key, "call_cancel")
        state = airflow.wait_for_run(DAG_ID, run, 120)
        ti = airflow.task_instance(DAG_ID, run, TASK_ID)
        log = airflow.log(DAG_ID, run, TASK_ID, int(ti.try_number))

    assert [c["id"] for c in cancels] == [call["id"]], "exactly the task's call is canceled, once"
    assert state == "failed"
    assert "Kill switch: stopped call" in log, log[-3000:]
    figure("8 call task marked failed", canceled_after_s=canceled_after, tries=ti.try_number)
