"""Outreach campaign: tagged contacts enrolled in a workflow and texted a tracked link, exactly once.

Shows an orchestrated campaign: find the contacts by tag (in batches), check the wallet can pay
before anything is sent, enroll each batch in a workflow and text it a templated SMS carrying a
click-tracking short link (both mapped over the batches with ``.expand()``), wait for delivery in
the triggerer (a deferrable sensor per batch), then open a CRM follow-up task for every contact
whose SMS failed. Every send and enrollment carries an idempotency key of its task instance, so a
retry never texts anyone twice.

Responsible by default: before any request the outreach policy keeps out whoever should not be
reached now. A contact with ``dnd`` (or ``sms`` in ``dnd_channels``, or a STOP reply) is neither
enrolled nor texted; one inside the quiet hours of their own time zone (21:00-08:00 there) is
enrolled but not texted tonight. Each task's summary counts them by reason (``skipped``) and its
last log line says how many of each (docs/guides/responsible-outreach.md).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from votel_airflow.operators.click_tracking import CreateTrackingLinkOperator
from votel_airflow.operators.contacts import ContactSearchOperator
from votel_airflow.operators.conversations import SendMessageOperator
from votel_airflow.operators.payments import WalletBalanceCheckOperator
from votel_airflow.operators.tasks import CreateTaskOperator
from votel_airflow.operators.workflows import EnrollContactOperator
from votel_airflow.sensors.communication import MessageDeliverySensor

# The Votel connection is a run-time param (every operator and sensor templates `votel_conn_id`);
# $VOTEL_CONN_ID, read once at parse time (no I/O), only sets its default.
DEFAULT_CONN_ID = os.environ.get("VOTEL_CONN_ID", "votel_default")
VOTEL_CONN_ID = "{{ params.votel_conn_id }}"
POKE_INTERVAL = float(os.environ.get("VOTEL_EXAMPLES_POKE_INTERVAL", "10"))
RETRY_DELAY = timedelta(seconds=float(os.environ.get("VOTEL_EXAMPLES_RETRY_DELAY", "60")))
#: Contacts per batch: one mapped enrollment, one mapped send and one delivery wait per batch.
BATCH_SIZE = 25

SMS_BODY = (
    "Hi from Votel Demo Co.! Our {{ params.campaign_name }} is on this week: "
    "{{ ti.xcom_pull(task_ids='create_tracking_link')['short_url'] }} Reply STOP to opt out."
)

with DAG(
    dag_id="votel_outreach_campaign",
    description="Tagged contacts: wallet check, workflow enrollment, tracked SMS, delivery, follow-ups.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["votel", "example", "campaign", "sms"],
    default_args={
        # Safe to retry: sends and enrollments are idempotent per task instance and resume from
        # the task state store, so a retry only reaches the people a failed try did not.
        "retries": 2,
        "retry_delay": RETRY_DELAY,
    },
    params={
        "votel_conn_id": Param(DEFAULT_CONN_ID, type="string", description="The Votel connection."),
        "tag": Param("vip", type="string", description="Contacts with this tag are texted."),
        "workflow_name": Param("New lead nurture", type="string", description="Workflow to enroll in."),
        "campaign_name": Param("Spring promotion", type="string", description="Named in the SMS."),
        "link_url": Param("https://example.com/spring", type="string", description="Where the link leads."),
        "min_balance": Param(1.0, type="number", minimum=0, description="Never send below this balance."),
    },
    doc_md=__doc__
    + """
### Parameters
- `tag`: which contacts to reach (default `vip`).
- `workflow_name`: the workflow the contacts are enrolled in.
- `campaign_name`, `link_url`: the SMS names the campaign and carries a tracking link to `link_url`.
- `min_balance`: the wallet must hold at least this much, and enough for one SMS per contact;
  otherwise the run is **skipped** before anything is sent (set `on_low="fail"` to fail it instead).

The Votel connection is the `votel_conn_id` param (default `votel_default`, or `$VOTEL_CONN_ID`).

### What to look at
`send_sms` and `wait_for_delivery` are mapped over the batches of `find_contacts`; each
`wait_for_delivery` instance waits deferred (in the triggerer), and `create_followup_tasks` opens
one CRM task per failed or undelivered SMS.

The outreach policy: `enroll_in_workflow` and `send_sms` list who they kept out in their summary
(`skipped`: `opted_out`, `suppressed`, `quiet_hours`, ...) and log it in their last line, e.g.
`skipped 2 opted_out, 0 suppressed, 1 quiet_hours, 0 frequency_capped, 0 unknown_timezone`.
""",
) as dag:
    # --8<-- [start:preflight]
    find_contacts = ContactSearchOperator(
        task_id="find_contacts",
        votel_conn_id=VOTEL_CONN_ID,
        tag="{{ params.tag }}",
        batch_size=BATCH_SIZE,
    )
    check_wallet = WalletBalanceCheckOperator(
        task_id="check_wallet",
        votel_conn_id=VOTEL_CONN_ID,
        min_balance="{{ params.min_balance }}",
        # One SMS per contact found: the batches' lengths summed.
        expected_sms="{{ ti.xcom_pull(task_ids='find_contacts') | map('length') | sum }}",
        on_low="skip",
    )
    # --8<-- [end:preflight]

    create_link = CreateTrackingLinkOperator(
        task_id="create_tracking_link",
        votel_conn_id=VOTEL_CONN_ID,
        name="{{ params.campaign_name }}",
        destination_url="{{ params.link_url }}",
    )

    # --8<-- [start:campaign]
    enroll = EnrollContactOperator.partial(
        task_id="enroll_in_workflow",
        votel_conn_id=VOTEL_CONN_ID,
        workflow_name="{{ params.workflow_name }}",  # found by name when the task runs
        # The nurture workflow texts: a contact who opted out of SMS (or of everything, `dnd`) is
        # not enrolled. Its quiet hours are the workflow's to keep, as it sends later.
        channels=["sms"],
    ).expand(contact_ids=find_contacts.output)

    send_sms = SendMessageOperator.partial(
        task_id="send_sms",
        votel_conn_id=VOTEL_CONN_ID,
        channel="sms",
        body=SMS_BODY,
        # A contact without a phone number is listed in the summary rather than failing the batch.
        on_invalid="skip",
        # The default window, spelled out: no campaign text between 21:00 and 08:00 in the
        # person's own zone (the contact's timezone, else their number's). A promotion is not worth
        # holding the run into tomorrow: those inside it are skipped and counted as quiet_hours
        # ("defer" would text them when their morning comes).
        quiet_hours="21:00-08:00",
        on_quiet_hours="skip",
    ).expand(contact_ids=find_contacts.output)

    wait_for_delivery = MessageDeliverySensor.partial(
        task_id="wait_for_delivery",
        votel_conn_id=VOTEL_CONN_ID,
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=3600,
        # Bounces are followed up below; only a mostly-failed batch means something is broken.
        max_failed=0.5,
    ).expand(message_ids=send_sms.output)
    # --8<-- [end:campaign]

    # --8<-- [start:followup]
    @task
    def failed_deliveries(
        deliveries: list[dict[str, list[str]]], params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """One follow-up task spec per failed or undelivered SMS, for the contact it was meant for."""
        from votel_airflow import endpoints
        from votel_airflow.hooks.votel import VotelHook

        hook = VotelHook((params or {})["votel_conn_id"])
        specs = []
        for delivery in deliveries:
            for message_id in [*delivery.get("failed", []), *delivery.get("undelivered", [])]:
                message = hook.get(endpoints.path(endpoints.MESSAGE, message_id=message_id))
                specs.append(
                    {
                        "title": f"SMS to {message.get('to')} was {message.get('status')}: call them",
                        "contact_id": message.get("contact_id"),
                        "custom_fields": {"message_id": message_id},
                    }
                )
        return specs

    CreateTaskOperator(
        task_id="create_followup_tasks",
        votel_conn_id=VOTEL_CONN_ID,
        tasks=failed_deliveries(wait_for_delivery.output),
    )
    # --8<-- [end:followup]

    # Nothing that costs money or leaves a trace in Votel starts before the wallet check passes.
    find_contacts >> check_wallet >> [create_link, enroll, send_sms]
    create_link >> send_sms
