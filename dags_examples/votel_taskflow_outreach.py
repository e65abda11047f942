"""TaskFlow outreach: text last week's callers and enroll them in a workflow, with @task and hook verbs only.

No operator: each step is a ``@task`` calling a ``VotelHook`` verb. The workflow is found by its
name (exactly one must have it), the week's call logs name the contacts, each contact is read for
its phone number, texted, and enrolled. The sends and the enrollment are exactly once without
any key written here: inside a running task each verb derives its ``Idempotency-Key`` from the
task instance and the recipient, and keeps the API's answer in the task state store, so a retry
of ``text_callers`` (forced with the param ``fail_after_sending``) gets the first try's message ids
back without asking again (before Airflow 3.3 it asks again with the same keys, and the API answers
with the first texts): nobody is texted twice.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

# The Votel connection is a run-time param; $VOTEL_CONN_ID, read once at parse time (no I/O),
# only sets its default.
DEFAULT_CONN_ID = os.environ.get("VOTEL_CONN_ID", "votel_default")
RETRY_DELAY = timedelta(seconds=float(os.environ.get("VOTEL_EXAMPLES_RETRY_DELAY", "10")))


with DAG(
    dag_id="votel_taskflow_outreach",
    description="Text last week's callers and enroll them in a workflow, written with @task only.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["votel", "example", "taskflow"],
    default_args={"retries": 2, "retry_delay": RETRY_DELAY},
    params={
        "votel_conn_id": Param(DEFAULT_CONN_ID, type="string", description="The Votel connection."),
        "workflow_name": Param("Missed call follow-up", type="string", description="The workflow."),
        "max_contacts": Param(3, type="integer", minimum=1, maximum=500, description="Contacts at most."),
        "body": Param("Thanks for calling us this week!", type="string", description="The SMS text."),
        "fail_after_sending": Param(
            False, type="boolean", description="Fail the first try after the texts left (a retry demo)."
        ),
    },
    doc_md=__doc__
    + """
### Parameters
- `workflow_name`: the workflow to enroll the contacts in, by its name in the Votel app.
- `max_contacts`: how many of the week's callers (those with a phone number) to reach.
- `body`: the text each one receives.
- `fail_after_sending`: fail the first try of `text_callers` once its texts are sent, to watch
  the retry send nothing twice.

The Votel connection is the `votel_conn_id` param (default `votel_default`, or `$VOTEL_CONN_ID`).
""",
):
    # --8<-- [start:taskflow]
    @task
    def find_workflow(params: Any = None) -> str:
        from votel_airflow.hooks.votel import VotelHook

        return str(VotelHook(params["votel_conn_id"]).find_workflow(params["workflow_name"])["id"])

    @task
    def last_weeks_callers(params: Any = None, data_interval_end: Any = None) -> list[dict[str, str]]:
        from votel_airflow.hooks.votel import VotelHook

        hook = VotelHook(params["votel_conn_id"])
        until = data_interval_end or pendulum.now("UTC")
        calls = hook.iter_call_logs(until - timedelta(days=7), until)
        contact_ids = sorted({str(call["contact_id"]) for call in calls if call.get("contact_id")})
        callers = []
        for contact_id in contact_ids:
            contact = hook.get_contact(contact_id)
            if contact.get("phone"):
                callers.append({"id": contact_id, "phone": contact["phone"]})
            if len(callers) == params["max_contacts"]:
                break
        return callers

    @task
    def text_callers(callers: list[dict[str, str]], params: Any = None, ti: Any = None) -> dict[str, Any]:
        from votel_airflow.hooks.votel import VotelHook

        hook = VotelHook(params["votel_conn_id"])
        # No idempotency_key: each is derived from this task instance and the number, so a retry
        # gets the first try's answers back instead of texting anyone again.
        sent = {c["phone"]: hook.send_sms(c["phone"], params["body"])["id"] for c in callers}
        if params["fail_after_sending"] and ti is not None and ti.try_number == 1:
            raise RuntimeError("Failing after sending, as asked (fail_after_sending): the retry resends none")
        return {"message_ids": sent, "try_number": ti.try_number if ti is not None else None}

    @task
    def enroll(workflow_id: str, callers: list[dict[str, str]], params: Any = None) -> dict[str, list[str]]:
        from votel_airflow.hooks.votel import VotelHook

        if not callers:
            return {}
        return VotelHook(params["votel_conn_id"]).enroll_contacts(workflow_id, [c["id"] for c in callers])

    callers = last_weeks_callers()
    texted = text_callers(callers)
    texted >> enroll(find_workflow(), callers)
    # --8<-- [end:taskflow]
