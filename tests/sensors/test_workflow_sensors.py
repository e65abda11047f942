"""WorkflowEnrollmentSensor and CampaignSensor against the sandbox's state machines, polled and deferred."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import dagrun_task_states, make_context, run_dag, write_dag
from votel_airflow import endpoints
from votel_airflow.exceptions import VotelInputError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer
from votel_airflow.sensors.base import VotelWaitFailed
from votel_airflow.sensors.workflows import (
    PER_CONTACT_MAX,
    CampaignCondition,
    CampaignSensor,
    WorkflowEnrollmentCondition,
    WorkflowEnrollmentSensor,
)


@pytest.fixture
def workflow_id(votel_connection: str) -> str:
    return str(VotelHook().get(endpoints.WORKFLOWS)[0]["id"])


def enroll(workflow_id: str, contact_ids: list[str]) -> None:
    path = endpoints.path(endpoints.WORKFLOW_ENROLLMENTS, workflow_id=workflow_id)
    VotelHook().request("POST", path, json={"contact_ids": contact_ids})


def some_contacts(count: int) -> list[str]:
    return [c["id"] for c in VotelHook().paginate(endpoints.CONTACTS)][:count]


def wait_for(workflow_id: str, contact_ids: Any, **kwargs: Any) -> Any:
    sensor = WorkflowEnrollmentSensor(
        task_id="wait", workflow_id=workflow_id, contact_ids=contact_ids, poke_interval=0.1, timeout=20,
        deferrable=False, **kwargs,
    )  # fmt: skip
    return sensor.execute(make_context())


def test_a_few_contacts_are_looked_up_one_list_each() -> None:
    condition = WorkflowEnrollmentCondition("w", ["a", "b"])

    assert [(f.params, f.all_pages) for f in condition.fetches()] == [
        ({"contact_id": "a"}, True),
        ({"contact_id": "b"}, True),
    ]


def test_many_contacts_are_judged_from_one_paged_read_of_the_workflow() -> None:
    condition = WorkflowEnrollmentCondition("w", [f"c{i}" for i in range(PER_CONTACT_MAX + 1)])

    (fetch,) = condition.fetches()
    assert fetch.all_pages
    assert dict(fetch.params) == {}


def test_only_a_contacts_newest_enrollment_counts() -> None:
    condition = WorkflowEnrollmentCondition("w", ["a"])
    old = {"contact_id": "a", "status": "exited", "enrolled_at": "2026-11-01T00:00:00+00:00"}
    new = {"contact_id": "a", "status": "active", "enrolled_at": "2026-11-02T00:00:00+00:00"}

    assert not condition.evaluate([[new, old]]).done
    assert condition.evaluate([[old]]).value == {"completed": [], "exited": ["a"], "failed": []}


def test_enrolled_contacts_end_the_wait_once_the_workflow_completes(workflow_id: str) -> None:
    contacts = some_contacts(3)
    enroll(workflow_id, contacts)

    result = wait_for(workflow_id, contacts)

    assert sorted(result["completed"]) == sorted(contacts)


def test_over_the_per_contact_limit_the_wait_reads_the_whole_list(
    votel_sandbox: Any, workflow_id: str
) -> None:
    contacts = some_contacts(PER_CONTACT_MAX + 5)
    enroll(workflow_id, contacts)

    result = wait_for(workflow_id, {"enrolled": contacts, "already_enrolled": [], "not_found": []})

    assert sorted(result["completed"]) == sorted(contacts)


def test_an_exited_contact_fails_the_wait_when_exited_is_in_fail_on(workflow_id: str) -> None:
    (contact,) = some_contacts(1)
    enroll(workflow_id, [contact])
    path = endpoints.path(endpoints.WORKFLOW_ENROLLMENTS, workflow_id=workflow_id)
    (enrollment,) = VotelHook().get(path, {"contact_id": contact})
    VotelHook().request(
        "DELETE",
        endpoints.path(
            endpoints.WORKFLOW_ENROLLMENT, workflow_id=workflow_id, enrollment_id=enrollment["id"]
        ),
    )

    with pytest.raises(VotelWaitFailed, match="exited"):
        wait_for(workflow_id, [contact], fail_on=["exited"])
    assert wait_for(workflow_id, [contact])["exited"] == [contact]


def test_a_contact_without_an_enrollment_keeps_the_wait_going(workflow_id: str) -> None:
    (contact,) = some_contacts(1)

    verdict = WorkflowEnrollmentCondition(workflow_id, [contact]).check(VotelHook())

    assert not verdict.done
    assert "1 not enrolled yet" in verdict.message


def test_a_bad_fail_on_fails_when_the_dag_is_parsed() -> None:
    with pytest.raises(VotelInputError) as info:
        WorkflowEnrollmentSensor(task_id="wait", workflow_id="w", contact_ids=["a"], fail_on=["active"])
    assert info.value.field == "fail_on"


def test_a_paused_campaign_fails_only_when_asked() -> None:
    paused = {"id": "c", "status": "paused", "stats": {}}

    assert CampaignCondition("c", fail_on_paused=True).evaluate([paused]).failed
    assert not CampaignCondition("c").evaluate([paused]).done


def test_campaign_sensor_returns_the_completed_campaign(votel_connection: str) -> None:
    campaign_id = VotelHook().get(endpoints.CAMPAIGNS)[0]["id"]
    VotelHook().request("POST", endpoints.path(endpoints.CAMPAIGN_START, campaign_id=campaign_id))

    result = CampaignSensor(
        task_id="wait", campaign_id=campaign_id, poke_interval=0.1, timeout=20, deferrable=False
    ).execute(make_context())

    assert (result["id"], result["status"]) == (campaign_id, "completed")


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[SandboxServer]:
    """A sandbox whose enrollments and campaigns run for seconds, so the sensors really defer.

    The tasks are chained so each sensor starts right after the task it waits on.
    """
    with SandboxServer(enrollment_seconds=5.0) as server:
        yield server


DAG_SOURCE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from votel_airflow.operators.workflows import EnrollContactOperator, StartCampaignOperator
from votel_airflow.sensors.workflows import CampaignSensor, WorkflowEnrollmentSensor

with DAG("workflow_sensors_dag", schedule=None, start_date=datetime(2026, 1, 1),
         default_args={"retries": 0, "retry_delay": timedelta(0)}):
    enrolled = EnrollContactOperator(task_id="enroll", workflow_id="{{ dag_run.conf['workflow'] }}",
                                     contact_ids=__CONTACTS__)
    finished = WorkflowEnrollmentSensor(task_id="finished", workflow_id="{{ dag_run.conf['workflow'] }}",
                             contact_ids=enrolled.output, deferrable=True, poke_interval=0.5, timeout=60)
    started = StartCampaignOperator(task_id="start", campaign_id="{{ dag_run.conf['campaign'] }}")
    campaign_done = CampaignSensor(task_id="campaign_done", campaign_id="{{ dag_run.conf['campaign'] }}",
                                   deferrable=True, poke_interval=0.5, timeout=60)
    enrolled >> finished >> started >> campaign_done
"""


def test_both_sensors_defer_inside_dag_test_and_complete_with_the_state_machines(
    slow_sandbox: SandboxServer,
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow import settings

    key = slow_sandbox.admin.create_account()
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOTEL_DEFAULT",
        json.dumps({"conn_type": "votel", "host": slow_sandbox.base_url, "password": key}),
    )
    dags = tmp_path / "dags"
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(dags))
    contacts = some_contacts(3)
    workflow = VotelHook().get(endpoints.WORKFLOWS)[0]["id"]
    campaign = VotelHook().get(endpoints.CAMPAIGNS)[0]["id"]
    write_dag(dags, DAG_SOURCE.replace("__CONTACTS__", repr(contacts)))

    with caplog.at_level(logging.INFO):
        dagrun = run_dag(dags, "workflow_sensors_dag", run_conf={"workflow": workflow, "campaign": campaign})

    states = dagrun_task_states(dagrun)
    assert set(states.values()) == {"success"}, states
    assert caplog.text.count("running trigger in line") == 2
    statuses = {
        e["contact_id"]: e["status"]
        for e in VotelHook().paginate(endpoints.path(endpoints.WORKFLOW_ENROLLMENTS, workflow_id=workflow))
    }
    assert statuses == dict.fromkeys(contacts, "completed")
