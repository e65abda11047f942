"""ContactImportSensor and the import/export conditions: deferred inside dag.test(), and the verdicts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.support import dagrun_task_states, make_context, run_dag, write_dag
from votel_airflow import endpoints
from votel_airflow.compat import TaskDeferred
from votel_airflow.conditions import Condition
from votel_airflow.exceptions import VotelInputError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sensors.contacts import (
    ContactExportCondition,
    ContactImportCondition,
    ContactImportsCondition,
    ContactImportSensor,
)
from votel_airflow.testing import point_connection

DAG_SOURCE = """
import json
from datetime import timedelta
import pendulum
from airflow.sdk import DAG, task
from votel_airflow.operators.contacts import UpsertContactsOperator
from votel_airflow.sensors.contacts import ContactImportSensor

with DAG("import_sensor_dag", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         default_args={"retries": 0, "retry_delay": timedelta(0)}):
    start = UpsertContactsOperator(
        task_id="start", wait_for_completion=False,
        records=[{"first_name": "Ok", "phone": "+447700900500"}, {"first_name": "Bad", "phone": "12"}],
    )
    wait = ContactImportSensor(
        task_id="wait", import_id="{{ ti.xcom_pull('start')['job_ids'][0] }}", deferrable=True,
        poke_interval=0.05, timeout=30,
    )

    @task
    def keep(job, dag_run=None):
        with open(dag_run.conf["out"] + "/job.json", "w") as f:
            json.dump(job, f)

    start >> wait
    keep(wait.output)
"""


def test_deferrable_import_sensor_in_dag_test_returns_the_completed_job(
    airflow_db, votel_connection, dags, tmp_path
):
    write_dag(dags, DAG_SOURCE)

    dagrun = run_dag(dags, "import_sensor_dag", run_conf={"out": str(tmp_path)})

    assert set(dagrun_task_states(dagrun).values()) == {"success"}, dagrun_task_states(dagrun)
    job = json.loads((tmp_path / "job.json").read_text())
    assert (job["status"], job["created"], job["failed_count"]) == ("completed", 1, 1)
    assert job["failed_rows"] == [
        {"row": 1, "detail": "invalid phone number '12': use E.164, e.g. +14155552671"}
    ]


@pytest.fixture
def slow_jobs_connection(votel_sandboxes: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """``votel_default`` on a sandbox whose import jobs take 4 s: the session sandbox's finish 0.2 s
    after they are made, which a loaded machine can spend before the sensor first looks."""
    sandbox = votel_sandboxes(job_seconds=2.0)
    return point_connection(monkeypatch, sandbox, sandbox.admin.create_account())


def test_import_sensor_defers_on_a_pending_job_and_its_trigger_returns_the_job(slow_jobs_connection):
    job = VotelHook().request(
        "POST", endpoints.CONTACT_IMPORTS, json={"contacts": [{"first_name": "A", "phone": "+447700900600"}]}
    )
    sensor = ContactImportSensor(
        task_id="wait", import_id=job["id"], deferrable=True, poke_interval=0.05, timeout=10
    )

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(make_context())
    trigger = deferred.value.trigger
    _, kwargs = trigger.serialize()
    event = asyncio.run(_first_event(type(trigger)(**json.loads(json.dumps(kwargs)))))

    result = sensor.execute_complete(make_context(), event.payload)
    assert (result["id"], result["status"], result["created"], result["failed_count"]) == (
        job["id"],
        "completed",
        1,
        0,
    )


async def _first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event
    raise AssertionError("the trigger ended without an event")


def test_import_sensor_with_an_empty_id_fails_before_any_request(votel_sandbox, votel_connection):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"import_id='': must be a non-empty id string"):
        ContactImportSensor(task_id="wait", import_id="").poke(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_imports_condition_waits_for_every_job():
    condition = ContactImportsCondition(import_ids=["a", "b"])

    verdict = condition.evaluate([{"id": "a", "status": "completed"}, {"id": "b", "status": "processing"}])

    assert (verdict.done, verdict.message) == (False, "1 of 2 contact import job(s) completed")


def test_a_failed_import_job_fails_the_wait():
    verdict = ContactImportCondition(import_id="a").evaluate(
        [{"id": "a", "status": "failed", "detail": "bad file"}]
    )

    assert (verdict.done, verdict.failed, verdict.message) == (
        True,
        True,
        "contact import a failed: bad file",
    )


def test_the_job_returned_keeps_100_failed_rows_and_counts_them_all():
    rows = [{"row": i, "detail": "first_name is required"} for i in range(250)]

    verdict = ContactImportCondition(import_id="a").evaluate(
        [{"id": "a", "status": "completed", "failed_rows": rows}]
    )

    assert verdict.done
    assert not verdict.failed
    assert (len(verdict.value["failed_rows"]), verdict.value["failed_count"]) == (100, 250)


@pytest.mark.parametrize(
    "condition",
    [ContactImportCondition(import_id="a"), ContactImportsCondition(import_ids=["a", "b"]),
     ContactExportCondition(export_id="e")],
)  # fmt: skip
def test_conditions_round_trip_through_json_for_the_trigger(condition: Condition):
    class_path, kwargs = condition.serialize()

    rebuilt = Condition.deserialize(class_path, json.loads(json.dumps(kwargs)))

    assert type(rebuilt) is type(condition)
    assert rebuilt.fetches() == condition.fetches()
