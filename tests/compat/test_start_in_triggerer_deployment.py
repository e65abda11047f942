"""On a real 3.3 deployment, ``start_from_trigger`` waits start in the triggerer: no worker starts them.

The scheduler defers the sensor straight to the triggerer, which renders its templated
``call_id`` (an XCom of the task that started the call; for mapped waits, the wait's own item of
the upstream list) and, with ``end_from_trigger``, ends it there: neither ``execute`` nor
``execute_complete`` runs on a worker. A wait whose call ends in a ``fail_on`` status resumes on a
worker, which fails it with the clear message. The DAG's sensor leaves a mark for each worker step.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.compat.deployment import Deployment, DeploymentTenant
from votel_airflow import compat, endpoints
from votel_airflow.hooks.votel import VotelHook

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        tuple(int(p) for p in (compat.airflow_version() or "0.0").split(".")[:2]) < (3, 3),
        reason="start_from_trigger needs Airflow 3.3 (tests/sensors: the parse-time error before)",
    ),
]

DAG_ID = "votel_wait_starts_in_triggerer"
DAG_SOURCE = """
from pathlib import Path

import pendulum
from airflow.sdk import DAG, task

from votel_airflow.operators.agents import StartCallOperator
from votel_airflow.sensors.calls import CallCompletedSensor

MARKS = Path(__file__).parent / "marks"


class MarkingSensor(CallCompletedSensor):
    def execute(self, context):
        (MARKS / f"{self.task_id}-execute").write_text("")
        return super().execute(context)

    def execute_complete(self, context, event):
        (MARKS / f"{self.task_id}-execute_complete").write_text(repr(event))
        return super().execute_complete(context, event)


with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    start = StartCallOperator(
        task_id="start", votel_conn_id="__CONN__", agent_id="__AGENT__", to="+14155550101"
    )
    start >> MarkingSensor(
        task_id="wait", votel_conn_id="__CONN__",
        call_id="{{ ti.xcom_pull('start', map_indexes=-1)['id'] }}",
        start_from_trigger=True, end_from_trigger=True, poke_interval=1, timeout=120,
    )
    start >> MarkingSensor(
        task_id="wait_fails", votel_conn_id="__CONN__",
        call_id="{{ ti.xcom_pull('start', map_indexes=-1)['id'] }}",
        fail_on=["completed"], start_from_trigger=True, end_from_trigger=True, poke_interval=1, timeout=120,
    )

    @task
    def ids(call):
        return [call["id"], call["id"]]

    MarkingSensor.partial(
        task_id="mapped", votel_conn_id="__CONN__", start_from_trigger=True, end_from_trigger=True,
        poke_interval=1, timeout=120,
    ).expand(call_id=ids(start.output))
"""


def test_waits_start_and_end_in_the_triggerer_and_a_failed_one_fails_on_a_worker(
    shared_deployment: Deployment, deployment_tenant: DeploymentTenant
) -> None:
    deployment, conn_id = shared_deployment, deployment_tenant.conn_id
    agent = str(VotelHook(conn_id).get(endpoints.AGENTS)[0]["id"])
    source = DAG_SOURCE.replace("__DAG_ID__", DAG_ID).replace("__AGENT__", agent).replace("__CONN__", conn_id)
    dags_folder = deployment.add_dag(DAG_ID, textwrap.dedent(source))
    (dags_folder / "marks").mkdir(exist_ok=True)

    # wait_fails fails the run; every other wait must succeed.
    run_id, _ = deployment.run_dag(DAG_ID)
    states = deployment.task_states(DAG_ID, run_id)
    assert states == {
        ("start", -1): "success",
        ("ids", -1): "success",
        ("wait", -1): "success",
        ("wait_fails", -1): "failed",
        ("mapped", 0): "success",
        ("mapped", 1): "success",
    }, (states, deployment.tails())

    call_id = deployment.xcom(DAG_ID, run_id, "start")["id"]
    for task_id, map_index in (("wait", -1), ("mapped", 0), ("mapped", 1)):
        call = deployment.xcom(DAG_ID, run_id, task_id, map_index)
        assert (call["id"], call["status"]) == (call_id, "completed")
    # No worker started or finished the met waits; the failed one resumed on a worker to fail.
    marks = sorted(p.name for p in (dags_folder / "marks").iterdir())
    assert marks == ["wait_fails-execute_complete"]
    task_logs = deployment.task_logs(DAG_ID)
    assert "ended completed, outcome booked (fail_on=['completed'])" in task_logs
