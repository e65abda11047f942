"""On a real deployment, the example ``votel_outreach_with_approval`` sends only after "Approve".

tests/dags drive its tasks one by one; here Airflow runs it: ``preview`` counts who would be
texted, ``approve`` (Airflow's ``ApprovalOperator``) waits for a person, who answers through the
public REST API as the UI's Required Actions do, and Airflow either skips ``send`` ("Reject") or
runs it ("Approve"). What the sandbox recorded shows that nobody was texted before or without the
approval, and on "Approve" exactly the people the preview counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.compat.deployment import EXAMPLES, START_TIMEOUT, Deployment, DeploymentTenant
from votel_airflow import endpoints
from votel_airflow.compat import has_human_in_the_loop
from votel_airflow.hooks.votel import VotelHook

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not has_human_in_the_loop(),
        reason="human-in-the-loop operators arrived in Airflow 3.1 (the example defines no DAG before)",
    ),
]

DAG_ID = "votel_outreach_with_approval"
TAG = "approval-deployment"
#: The last contact opts out, so the preview counts two.
PHONES = ["+33612340001", "+33612340002", "+33612340003"]
#: Where a task waits for a person: parked (3.3) or deferred to the HITL trigger (3.1, 3.2).
WAITING_FOR_A_PERSON = ("awaiting_input", "deferred")


@pytest.fixture
def asked(shared_deployment: Deployment, deployment_tenant: DeploymentTenant) -> Iterator[str]:
    """Contacts tagged for the campaign, the DAG triggered, and its question waiting; the run id."""
    deployment, tenant = shared_deployment, deployment_tenant
    hook = VotelHook(tenant.conn_id)
    for number, phone in enumerate(PHONES):
        person = {"first_name": f"P{number}", "phone": phone, "tags": [TAG]}
        contact = hook.request("POST", endpoints.CONTACTS, json=person)
    hook.request("PATCH", endpoints.path(endpoints.CONTACT, contact_id=contact["id"]), json={"dnd": True})
    deployment.add_dag(DAG_ID, (EXAMPLES / f"{DAG_ID}.py").read_text())
    run_id = deployment.trigger(DAG_ID, conf={"votel_conn_id": tenant.conn_id, "tag": TAG})

    def waiting() -> bool:
        state = deployment.run_state(DAG_ID, run_id)
        assert state in (None, "queued", "running"), (state, deployment.tails())
        approve = deployment.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/approve")
        return (
            approve.status_code == 200
            and approve.json()["state"] in WAITING_FOR_A_PERSON
            and deployment.api("GET", _question(run_id)).status_code == 200
            and _asking_try_ended(deployment, run_id)
        )

    try:
        deployment.wait_for("the approval waits for a person", waiting, START_TIMEOUT)
        yield run_id
    finally:
        # The DAG allows one active run: a test stopped half-way must not hold up the next.
        deployment.fail_unfinished(DAG_ID, run_id)


def _asking_try_ended(deployment: Deployment, run_id: str) -> bool:
    """The scheduler has seen the process of the try that asked end, as it has before any person
    answers. Answered sooner (a fresh CI run did, within a second), Airflow 3.3.2's scheduler
    takes that exit for the end of the resumed task, already queued again, and retries the task,
    which asks again: the run waits for a second answer that never comes."""
    ended = re.compile(
        r"Received executor event with state (success|failed) for task instance TaskInstanceKey\("
        rf"dag_id='{re.escape(DAG_ID)}', task_id='approve', run_id='{re.escape(run_id)}', try_number=1,"
    )
    return ended.search(deployment.log("scheduler")) is not None


def _question(run_id: str) -> str:
    """The approval's human-in-the-loop details in the public REST API (3.1 to 3.3)."""
    return f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails"


def _answer(deployment: Deployment, run_id: str, option: str) -> None:
    """Answer as a person does in the UI's Required Actions."""
    answer = {"chosen_options": [option], "params_input": {}}
    answered = deployment.api("PATCH", _question(run_id), json=answer)
    assert answered.status_code == 200, answered.text


def _texted(tenant: DeploymentTenant) -> list[str]:
    return sorted(m["recipient"] for m in tenant.sandbox.admin.records(tenant.api_key, "message"))


def test_rejected_in_a_run_the_send_is_skipped_and_nobody_is_texted(
    shared_deployment: Deployment, deployment_tenant: DeploymentTenant, asked: str
) -> None:
    run_id = asked
    assert _texted(deployment_tenant) == []  # the preview sent nothing

    _answer(shared_deployment, run_id, "Reject")

    state = shared_deployment.wait_for_run(DAG_ID, run_id)
    states = shared_deployment.task_states(DAG_ID, run_id)
    assert (state, states[("send", -1)]) == ("success", "skipped"), (states, shared_deployment.tails())
    assert _texted(deployment_tenant) == []


def test_approved_in_a_run_the_send_texts_exactly_whom_the_preview_counted(
    shared_deployment: Deployment, deployment_tenant: DeploymentTenant, asked: str
) -> None:
    run_id = asked
    preview = shared_deployment.xcom(DAG_ID, run_id, "preview")
    assert preview["would_send"] == 2, preview
    assert _texted(deployment_tenant) == []

    _answer(shared_deployment, run_id, "Approve")

    state = shared_deployment.wait_for_run(DAG_ID, run_id)
    states = shared_deployment.task_states(DAG_ID, run_id)
    assert (state, states[("send", -1)]) == ("success", "success"), (states, shared_deployment.tails())
    assert len(_texted(deployment_tenant)) == preview["would_send"]
    assert _texted(deployment_tenant) == PHONES[:2]
