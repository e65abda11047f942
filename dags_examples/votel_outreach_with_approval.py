"""Outreach with a human approval: preview who would be texted, ask a person, then send (or not).

The ``preview`` task runs the send with ``dry_run=True``: it reads the same opt-outs, quiet hours
and caps a send would, renders the message, sends nothing, writes one row per contact (message,
local time, estimated cost, skip reason) and returns the totals. Airflow's own human-in-the-loop
``ApprovalOperator`` then asks, with those totals in the question, in the UI's Required Actions;
on "Reject" it skips ``send``. ``send`` itself refuses to reach more than ``require_approval_above``
people unless that approval said "Approve" in this run, so removing the question from the DAG, or
a trigger rule that runs ``send`` anyway, cannot let a large send through.

Needs Airflow 3.1 or later (human-in-the-loop operators). On Airflow 3.0 this file defines no DAG:
there is nobody to ask there; preview with ``dry_run=True`` and send from a second run instead.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from votel_airflow.compat import has_human_in_the_loop
from votel_airflow.operators.contacts import ContactSearchOperator
from votel_airflow.operators.conversations import SendMessageOperator

DEFAULT_CONN_ID = os.environ.get("VOTEL_CONN_ID", "votel_default")
VOTEL_CONN_ID = "{{ params.votel_conn_id }}"
RETRY_DELAY = timedelta(seconds=float(os.environ.get("VOTEL_EXAMPLES_RETRY_DELAY", "60")))
#: A send to more people than this needs the approval. 0: this DAG never sends unapproved.
APPROVAL_ABOVE = 0
#: Where the preview rows go (a local path or an object-storage URL): one file per run.
DATA_DIR = os.environ.get("VOTEL_DATA_DIR", "/tmp/votel-data")

SMS_BODY = "Hi {{ params.first_line }} Reply STOP to opt out."
PREVIEW = "ti.xcom_pull(task_ids='preview')"
QUESTION = (
    "Text {{ " + PREVIEW + "['would_send'] }} people now and {{ " + PREVIEW + "['waiting'] }} "
    "after their quiet hours?"
)
DETAILS = (
    "Estimated cost: {{ " + PREVIEW + "['estimated_cost'] }} ({{ " + PREVIEW + "['segments'] }} "
    "segments).\n\nSkipped: {{ " + PREVIEW + "['skipped'] }}; "
    "invalid: {{ " + PREVIEW + "['skipped_invalid'] }}.\n\nEvery row: {{ " + PREVIEW + "['preview_uri'] }}"
)

if has_human_in_the_loop():
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    with DAG(
        dag_id="votel_outreach_with_approval",
        description="Preview an SMS campaign, ask a person with the totals, send only if approved.",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["votel", "example", "campaign", "sms", "approval"],
        default_args={"retries": 2, "retry_delay": RETRY_DELAY},
        params={
            "votel_conn_id": Param(DEFAULT_CONN_ID, type="string", description="The Votel connection."),
            "tag": Param("vip", type="string", description="Contacts with this tag are texted."),
            "first_line": Param("from Votel Demo Co.!", type="string", description="The SMS's news."),
        },
        doc_md=__doc__
        + """
### What to look at
`preview` logs (and writes to its `results_destination`) one row per contact; `approve` waits in
**Required Actions** with the totals in its question; `send` runs only after "Approve".
""",
    ) as dag:
        find_contacts = ContactSearchOperator(
            task_id="find_contacts", votel_conn_id=VOTEL_CONN_ID, tag="{{ params.tag }}"
        )
        # --8<-- [start:approval]
        preview = SendMessageOperator(
            task_id="preview",
            votel_conn_id=VOTEL_CONN_ID,
            contact_ids=find_contacts.output,
            channel="sms",
            body=SMS_BODY,
            on_invalid="skip",
            dry_run=True,
            results_destination=DATA_DIR + "/previews/{{ dag.dag_id }}/{{ run_id }}.jsonl",
        )
        approve = ApprovalOperator(
            task_id="approve",
            subject=QUESTION,
            body=DETAILS,
            # Unanswered for a day: the default ("Reject") skips the send.
            response_timeout=timedelta(days=1),
            defaults=["Reject"],
        )
        send = SendMessageOperator(
            task_id="send",
            votel_conn_id=VOTEL_CONN_ID,
            contact_ids=find_contacts.output,
            channel="sms",
            body=SMS_BODY,
            on_invalid="skip",
            require_approval_above=APPROVAL_ABOVE,
            approved_by="approve",
        )
        find_contacts >> preview >> approve >> send
        # --8<-- [end:approval]
