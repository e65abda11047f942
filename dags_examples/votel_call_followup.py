"""Call follow-up: AI calls to a list of people, each awaited in the triggerer and followed up by outcome.

Shows mapped calls and a branch: make sure each person is a CRM contact, start one AI voice call
per person (``.expand_kwargs()``), wait for every call with a deferrable sensor (mapped too), then
branch on how the calls ended. Booked calls get a calendar booking and a confirmation e-mail;
unanswered calls get an SMS; every call's full log (summary, transcript, recording) is saved to a
file. Calls, bookings and messages carry idempotency keys of their task instance, so a retry never
rings, books or texts anyone twice.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from votel_airflow.operators.agents import StartCallOperator
from votel_airflow.operators.calendars import CreateBookingOperator
from votel_airflow.operators.communication import SendEmailOperator, SendSmsOperator
from votel_airflow.operators.contacts import CreateContactOperator
from votel_airflow.operators.generic import VotelApiOperator
from votel_airflow.sensors.calls import CallCompletedSensor

# The Votel connection is a run-time param (every operator and sensor templates `votel_conn_id`);
# $VOTEL_CONN_ID, read once at parse time (no I/O), only sets its default.
DEFAULT_CONN_ID = os.environ.get("VOTEL_CONN_ID", "votel_default")
VOTEL_CONN_ID = "{{ params.votel_conn_id }}"
DATA_DIR = os.environ.get("VOTEL_DATA_DIR", "/tmp/votel-data")
POKE_INTERVAL = float(os.environ.get("VOTEL_EXAMPLES_POKE_INTERVAL", "10"))
RETRY_DELAY = timedelta(seconds=float(os.environ.get("VOTEL_EXAMPLES_RETRY_DELAY", "60")))

#: Who to call when the run gives no ``people``. In the sandbox a call's end follows the last digit
#: of the number: 1-3 books a meeting, 0 is not answered, 4-5 asks for a call back.
DEFAULT_PEOPLE = [
    {"first_name": "Ada", "phone": "+12025550201", "email": "ada@example.com"},
    {"first_name": "Grace", "phone": "+12025550210", "email": "grace@example.com"},
    {"first_name": "Alan", "phone": "+12025550224", "email": "alan@example.com"},
]


with DAG(
    dag_id="votel_call_followup",
    description="AI calls to a list; booked -> booking and e-mail, no answer -> SMS, every call -> log.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["votel", "example", "voice", "calls"],
    default_args={
        # Safe to retry: the calls, the bookings and the messages are idempotent per task instance.
        "retries": 2,
        "retry_delay": RETRY_DELAY,
    },
    params={
        "votel_conn_id": Param(DEFAULT_CONN_ID, type="string", description="The Votel connection."),
        "people": Param(DEFAULT_PEOPLE, type="array", description="[{first_name, phone, email}] to call."),
        "agent_name": Param("Sales Assistant", type="string", description="The agent that calls."),
        "calendar_name": Param("Discovery call", type="string", description="Where booked calls go."),
        "data_dir": Param(DATA_DIR, type="string", description="Folder (or URL) for the call logs."),
    },
    doc_md=__doc__
    + """
### Parameters
- `people`: the list to call, each `{"first_name", "phone" (E.164), "email"}`.
- `agent_name`: the Votel agent that makes the calls; `calendar_name`: where booked calls are booked.
- `data_dir`: where each call's log is saved (`<data_dir>/call_followup/<run>/<call id>.json`).

The Votel connection is the `votel_conn_id` param (default `votel_default`, or `$VOTEL_CONN_ID`).

### What to look at
`start_call` and `wait_for_call` have one instance per person; `route_by_outcome` picks which
follow-ups run, and a follow-up with nobody to follow up is skipped.
""",
) as dag:

    @task
    def people_to_call(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
        """The ``people`` param as contact fields, one dict per person."""
        return [
            {"first_name": p["first_name"], "phone": p["phone"], "email": p.get("email") or ""}
            for p in (params or {})["people"]
        ]

    people = people_to_call()

    # --8<-- [start:calls]
    contacts = CreateContactOperator.partial(
        task_id="ensure_contact", votel_conn_id=VOTEL_CONN_ID, on_conflict="update"
    ).expand_kwargs(people)

    @task
    def call_arguments(people: list[dict[str, str]], contact_ids: list[str]) -> list[dict[str, str]]:
        """``StartCallOperator`` arguments per person: the number and the CRM contact."""
        return [{"to": p["phone"], "contact_id": c} for p, c in zip(people, contact_ids, strict=True)]

    calls = StartCallOperator.partial(
        task_id="start_call", votel_conn_id=VOTEL_CONN_ID, agent_name="{{ params.agent_name }}"
    ).expand_kwargs(call_arguments(people, contacts.output))

    ended = CallCompletedSensor.partial(
        task_id="wait_for_call",
        votel_conn_id=VOTEL_CONN_ID,
        fail_on=[],  # every ending is handled below; none fails the run
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=1800,
    ).expand(call_id=calls.output.map(lambda call: call["id"]))
    # --8<-- [end:calls]

    # --8<-- [start:branch]
    @task(multiple_outputs=True)
    def sort_by_outcome(calls: list[dict[str, Any]], people: list[dict[str, str]]) -> dict[str, list[str]]:
        """Who needs which follow-up, from the ended calls."""
        email_of = {p["phone"]: p["email"] for p in people}
        booked = [c for c in calls if c.get("outcome") == "booked"]
        return {
            "booked_contact_ids": [str(c["contact_id"]) for c in booked],
            "booked_emails": [email_of[c["to"]] for c in booked if email_of.get(c["to"])],
            "no_answer_phones": [str(c["to"]) for c in calls if c.get("status") == "no_answer"],
        }

    outcomes = sort_by_outcome(ended.output, people)

    @task
    def booked_contacts(calls: list[dict[str, Any]]) -> list[str]:
        """The contacts whose call booked a meeting (a list, so the booking can be mapped over it)."""
        return [str(c["contact_id"]) for c in calls if c.get("outcome") == "booked"]

    @task.branch
    def route_by_outcome(outcomes: dict[str, list[str]]) -> list[str]:
        """Booked calls -> book and confirm; unanswered calls -> SMS; nobody -> no follow-up."""
        follow_ups = []
        if outcomes["booked_contact_ids"]:
            follow_ups.append("book_meeting")
        if outcomes["no_answer_phones"]:
            follow_ups.append("text_no_answer")
        return follow_ups

    book = CreateBookingOperator.partial(
        task_id="book_meeting",
        votel_conn_id=VOTEL_CONN_ID,
        calendar_name="{{ params.calendar_name }}",
        # Tomorrow 15:00 UTC, or the next free slot after it.
        start="{{ (dag_run.start_date + macros.timedelta(days=1)).replace(hour=15, minute=0, second=0, "
        "microsecond=0).isoformat() }}",
        on_conflict="next_free",
    ).expand(contact_id=booked_contacts(ended.output))
    confirm = SendEmailOperator(
        task_id="confirm_by_email",
        votel_conn_id=VOTEL_CONN_ID,
        to=outcomes["booked_emails"],
        subject="Your call with Votel Demo Co. is booked",
        text="Thanks for the call! Your meeting is booked; the calendar invitation follows.",
    )
    text_no_answer = SendSmsOperator(
        task_id="text_no_answer",
        votel_conn_id=VOTEL_CONN_ID,
        to=outcomes["no_answer_phones"],
        body="Sorry we missed you! Reply with a good time and we will call you back.",
    )
    route_by_outcome(outcomes) >> [book, text_no_answer]
    book >> confirm
    # --8<-- [end:branch]

    # --8<-- [start:call_logs]
    call_logs = VotelApiOperator.partial(
        task_id="fetch_call_log", votel_conn_id=VOTEL_CONN_ID, path="/activity/calls/{call_id}"
    ).expand(path_params=ended.output.map(lambda call: {"call_id": call["id"]}))

    @task
    def save_call_log(
        call: dict[str, Any], run_id: str | None = None, params: dict[str, Any] | None = None
    ) -> str:
        """Write one call's full log (with its transcript) as JSON; return the file's URI."""
        from airflow.sdk import ObjectStoragePath

        root = str((params or {})["data_dir"]).rstrip("/")
        folder = ObjectStoragePath(root if "://" in root else f"file://{root}")
        path = folder / "call_followup" / str(run_id).replace(":", "_") / f"{call['id']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(call, sort_keys=True))
        return str(path)

    save_call_log.expand(call=call_logs.output)
    # --8<-- [end:call_logs]
