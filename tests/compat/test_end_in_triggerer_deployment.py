"""On a real deployment, a wait with ``end_from_trigger`` ends in the triggerer: no worker resumes it.

``dag.test()`` hands every trigger event back to the task (3.0 to 3.3), so only a deployment shows
what ``end_from_trigger`` changes: the triggerer marks the task successful and pushes its XCom, and
``execute_complete`` never runs on a worker. The DAG's sensor leaves a mark if it does.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.compat.test_deployment import RUN_TIMEOUT, START_TIMEOUT, Deployment, deployment, sandbox
from votel_airflow import endpoints
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer

__all__ = ["deployment", "sandbox"]  # the fixtures, shared with the deployment test

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
    start = StartCallOperator(task_id="start", agent_id="__AGENT__", to="+14155550101")
    wait = MarkingSensor(
        task_id="wait", call_id="{{ ti.xcom_pull('start')['id'] }}",
        deferrable=True, end_from_trigger=True, poke_interval=1, timeout=120,
    )

    @task
    def read_result(ti=None):
        # What a user's downstream task sees of the result the triggerer pushed.
        result = ti.xcom_pull(task_ids="wait")
        READ.write_text(json.dumps({"type": type(result).__name__, "value": result}))

    start >> wait >> read_result()
"""


@pytest.fixture
def dags_folder(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    conn = {"conn_type": "votel", "host": sandbox.base_url, "password": sandbox.api_keys[0]}
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps(conn))
    agent = str(VotelHook().get(endpoints.AGENTS)[0]["id"])
    folder = tmp_path / "dags"
    folder.mkdir()
    source = DAG_SOURCE.replace("__DAG_ID__", DAG_ID).replace("__AGENT__", agent)
    (folder / f"{DAG_ID}.py").write_text(textwrap.dedent(source))
    return folder


def test_a_met_wait_ends_in_the_triggerer_with_its_xcom_for_the_next_task_and_no_worker_resume(
    deployment: Deployment, dags_folder: Path
) -> None:
    deployment.wait_for(
        "the DAG processor parsed the DAG",
        lambda: deployment.api("GET", f"/api/v2/dags/{DAG_ID}").status_code == 200,
        START_TIMEOUT,
    )
    deployment.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False}).raise_for_status()
    started = deployment.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None})
    assert started.status_code in (200, 201), started.text
    run_id = started.json()["dag_run_id"]

    def finished() -> str | None:
        state = deployment.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]
        return state if state in ("success", "failed") else None

    assert deployment.wait_for("the run finished", finished, RUN_TIMEOUT) == "success", deployment.tails()
    xcom = deployment.api(
        "GET",
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/wait/xcomEntries/return_value",
        params={"stringify": "false"},  # the stored JSON (deserializing is off by default on 3.0)
    )
    assert xcom.status_code == 200, xcom.text
    value = xcom.json()["value"]
    call = json.loads(value) if isinstance(value, str) else value
    assert (call["status"], call["outcome"]) == ("completed", "booked")
    # The trigger's own lines go to the task's log (3.x), the triggerer's to its process log.
    task_logs = "".join(p.read_text(errors="replace") for p in (deployment.root / "logs").rglob("*.log"))
    assert "ending the task from the triggerer" in task_logs + deployment.log("triggerer")
    assert not (dags_folder / "resumed-on-a-worker").exists()  # no worker slot to finish the wait
    # A task downstream reads the result as the dict the sensor returns (once it got its JSON text).
    read = json.loads((dags_folder / "read-downstream").read_text())
    assert read["type"] == "dict", read
    assert (read["value"]["status"], read["value"]["outcome"]) == ("completed", "booked")
