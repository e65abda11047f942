"""On a real 3.3 deployment, ``start_from_trigger`` waits start in the triggerer: no worker starts them.

The scheduler defers the sensor straight to the triggerer, which renders its templated
``call_id`` (an XCom of the task that started the call; for mapped waits, the wait's own item of
the upstream list) and, with ``end_from_trigger``, ends it there: neither ``execute`` nor
``execute_complete`` runs on a worker. A wait whose call ends in a ``fail_on`` status resumes on a
worker, which fails it with the clear message. The DAG's sensor leaves a mark for each worker step.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.compat.test_deployment import RUN_TIMEOUT, START_TIMEOUT, Deployment, deployment, sandbox
from votel_airflow import compat, endpoints
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer

__all__ = ["deployment", "sandbox"]  # the fixtures, shared with the deployment test

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
    start = StartCallOperator(task_id="start", agent_id="__AGENT__", to="+14155550101")
    start >> MarkingSensor(
        task_id="wait", call_id="{{ ti.xcom_pull('start', map_indexes=-1)['id'] }}",
        start_from_trigger=True, end_from_trigger=True, poke_interval=1, timeout=120,
    )
    start >> MarkingSensor(
        task_id="wait_fails", call_id="{{ ti.xcom_pull('start', map_indexes=-1)['id'] }}",
        fail_on=["completed"], start_from_trigger=True, end_from_trigger=True, poke_interval=1, timeout=120,
    )

    @task
    def ids(call):
        return [call["id"], call["id"]]

    MarkingSensor.partial(
        task_id="mapped", start_from_trigger=True, end_from_trigger=True, poke_interval=1, timeout=120,
    ).expand(call_id=ids(start.output))
"""


@pytest.fixture
def dags_folder(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    conn = {"conn_type": "votel", "host": sandbox.base_url, "password": sandbox.api_keys[0]}
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps(conn))
    agent = str(VotelHook().get(endpoints.AGENTS)[0]["id"])
    folder = tmp_path / "dags"
    (folder / "marks").mkdir(parents=True)
    source = DAG_SOURCE.replace("__DAG_ID__", DAG_ID).replace("__AGENT__", agent)
    (folder / f"{DAG_ID}.py").write_text(textwrap.dedent(source))
    return folder


def test_waits_start_and_end_in_the_triggerer_and_a_failed_one_fails_on_a_worker(
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
    run = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"

    def finished() -> str | None:
        state = deployment.api("GET", run).json()["state"]
        return state if state in ("success", "failed") else None

    # wait_fails fails the run; every other wait must succeed.
    deployment.wait_for("the run finished", finished, RUN_TIMEOUT)
    tis = deployment.api("GET", f"{run}/taskInstances").json()["task_instances"]
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in tis}
    assert states == {
        ("start", -1): "success",
        ("ids", -1): "success",
        ("wait", -1): "success",
        ("wait_fails", -1): "failed",
        ("mapped", 0): "success",
        ("mapped", 1): "success",
    }, (states, deployment.tails())

    def result(task_id: str, map_index: int = -1) -> dict[str, object]:
        xcom = deployment.api(
            "GET",
            f"{run}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"stringify": "false", "map_index": map_index},
        )
        assert xcom.status_code == 200, xcom.text
        value = xcom.json()["value"]
        return json.loads(value) if isinstance(value, str) else value  # type: ignore[no-any-return]

    call_id = result("start")["id"]
    for task_id, map_index in (("wait", -1), ("mapped", 0), ("mapped", 1)):
        call = result(task_id, map_index)
        assert (call["id"], call["status"]) == (call_id, "completed")
    # No worker started or finished the met waits; the failed one resumed on a worker to fail.
    marks = sorted(p.name for p in (dags_folder / "marks").iterdir())
    assert marks == ["wait_fails-execute_complete"]
    task_logs = "".join(p.read_text(errors="replace") for p in (deployment.root / "logs").rglob("*.log"))
    assert "ended completed, outcome booked (fail_on=['completed'])" in task_logs
