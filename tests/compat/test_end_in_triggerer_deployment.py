"""On a real deployment, a wait with ``end_from_trigger`` ends in the triggerer: no worker resumes it.

``dag.test()`` hands every trigger event back to the task (3.0 to 3.3), so only a deployment shows
what ``end_from_trigger`` changes: the triggerer marks the task successful and pushes its XCom, and
``execute_complete`` never runs on a worker. The DAG's sensor leaves a mark if it does.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.compat.deployment import Deployment, DeploymentTenant
from votel_airflow import endpoints
from votel_airflow.hooks.votel import VotelHook

pytestmark = pytest.mark.slow

DAG_ID = "votel_wait_ends_in_triggerer"
DAG_SOURCE = """
import json
import os
from pathlib import Path

import pendulum
from airflow.sdk import DAG, task

from votel_airflow.operators.agents import StartCallOperator
from votel_airflow.sensors.calls import CallCompletedSensor

MARK = Path(__file__).parent / "resumed-on-a-worker"
READ = Path(__file__).parent / "read-downstream"


class MarkingSensor(CallCompletedSensor):
    def execute_complete(self, context, event):
        MARK.write_text(repr(event))
        return super().execute_complete(context, event)


with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    start = StartCallOperator(
        task_id="start", votel_conn_id="__CONN__", agent_id="__AGENT__", to="+14155550101"
    )
    wait = MarkingSensor(
        task_id="wait", votel_conn_id="__CONN__", call_id="{{ ti.xcom_pull('start')['id'] }}",
        deferrable=True, end_from_trigger=True, poke_interval=1, timeout=120,
    )

    @task
    def read_result(ti=None):
        # What a user's downstream task sees of the result the triggerer pushed.
        result = ti.xcom_pull(task_ids="wait")
        READ.write_text(json.dumps({"type": type(result).__name__, "value": result}))

    start >> wait >> read_result()
"""


def test_a_met_wait_ends_in_the_triggerer_with_its_xcom_for_the_next_task_and_no_worker_resume(
    shared_deployment: Deployment, deployment_tenant: DeploymentTenant
) -> None:
    deployment, conn_id = shared_deployment, deployment_tenant.conn_id
    agent = str(VotelHook(conn_id).get(endpoints.AGENTS)[0]["id"])
    source = DAG_SOURCE.replace("__DAG_ID__", DAG_ID).replace("__AGENT__", agent).replace("__CONN__", conn_id)
    dags_folder = deployment.add_dag(DAG_ID, textwrap.dedent(source))

    run_id, state = deployment.run_dag(DAG_ID)

    assert state == "success", deployment.tails()
    call = deployment.xcom(DAG_ID, run_id, "wait")
    assert (call["status"], call["outcome"]) == ("completed", "booked")
    # The trigger's own lines go to the task's log (3.x), the triggerer's to its process log.
    task_logs = deployment.task_logs(DAG_ID)
    assert "ending the task from the triggerer" in task_logs + deployment.log("triggerer")
    assert not (dags_folder / "resumed-on-a-worker").exists()  # no worker slot to finish the wait
    # A task downstream reads the result as the dict the sensor returns (once it got its JSON text).
    read = json.loads((dags_folder / "read-downstream").read_text())
    assert read["type"] == "dict", read
    assert (read["value"]["status"], read["value"]["outcome"]) == ("completed", "booked")
