"""What the outreach policy reads for thread messages, whose recipients are contact ids: a few are
each read by id (``GET /contacts/{contact_id}``), their cost following the recipients and not the
CRM; many are still listed. The verdicts are the same either way."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.support import make_context
from votel_airflow import endpoints
from votel_airflow.defaults import MAX_RECIPIENTS_LOOKED_UP
from votel_airflow.delivery.policy import resolve_policy
from votel_airflow.delivery.screening import screen
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.conversations import SendMessageOperator
from votel_airflow.sandbox.bulk_outreach import DND_EVERY, SMS_DND_EVERY, generated_phone

#: Three pages of contacts at the largest page size: what a listing would cost.
CRM = 1_200
CONTACTS = "GET /contacts"
CONTACT = "GET /contacts/{contact_id}"
LOGS = "GET /activity/messaging-logs"
MESSAGES = "POST /conversations/messages"
CAP = {"max_per_recipient": (1, "24h")}
UNKNOWN_CONTACT = "00000000-0000-4000-8000-000000000000"
#: Generated contacts without flags and in the suite's open hours (no zone: a San Francisco number).
PLAIN = 3
#: One with ``dnd``, one with SMS in ``dnd_channels``.
DND, SMS_DND = DND_EVERY, SMS_DND_EVERY


@pytest.fixture
def ids(votel_sandbox: Any, votel_api_key: str, votel_connection: str) -> dict[int, str]:
    """A CRM of 1,200 generated contacts: generated number ``n`` -> its contact id. The request
    statistics start from zero after it."""
    admin = votel_sandbox.admin
    admin.generate_contacts(votel_api_key, CRM)
    by_phone = {c["phone"]: str(c["id"]) for c in VotelHook().paginate(endpoints.CONTACTS)}
    admin.reset_stats()
    return {n: by_phone[generated_phone(n)] for n in range(CRM)}


def day_of_sends(admin: Any, api_key: str) -> str:
    """2,000 SMS sent to the CRM in the last hours (5 pages of the log), then a new contact none of
    them went to: its id. The statistics restart."""
    now = datetime.now(timezone.utc)  # the log window is read on the wall clock
    admin.generate_messages(api_key, 2_000, now - timedelta(hours=6), now - timedelta(minutes=1))
    new = VotelHook().request("POST", endpoints.CONTACTS, json={"first_name": "Ada", "phone": "+14155557301"})
    admin.reset_stats()
    return str(new["id"])


def paths(admin: Any) -> Counter[str]:
    return Counter(admin.stats()["paths"])


def test_a_thread_message_to_one_contact_in_a_crm_of_1200_reads_that_contact_only(
    votel_sandbox: Any, ids: dict[int, str]
) -> None:
    summary = SendMessageOperator(
        task_id="thread", contact_ids=[ids[PLAIN]], channel="sms", body="Hi", **CAP
    ).execute(make_context())

    counted = paths(votel_sandbox.admin)
    assert (counted[CONTACTS], counted[CONTACT]) == (0, 1)  # not the CRM's 3 pages
    assert counted[LOGS] == 1 + 1  # the STOP replies, then this contact's sends of the cap's day
    assert summary["sent"] == 1


def test_the_send_message_verb_reads_its_contact_by_id(votel_sandbox: Any, ids: dict[int, str]) -> None:
    hook = VotelHook()

    sent = hook.send_message(ids[PLAIN], "sms", "Hi", idempotency_key="thread-plain")
    skipped = hook.send_message(ids[DND], "sms", "Hi", idempotency_key="thread-dnd")

    counted = paths(votel_sandbox.admin)
    assert (counted[CONTACTS], counted[CONTACT], counted[MESSAGES]) == (0, 2, 1)
    assert sent["id"]
    assert sent["status"] != "skipped"
    assert (skipped["status"], skipped["reason"]) == ("skipped", "opted_out")


def test_contacts_read_by_id_are_still_skipped_for_dnd_and_dnd_channels(
    votel_sandbox: Any, votel_api_key: str, ids: dict[int, str]
) -> None:
    summary = SendMessageOperator(
        task_id="thread", contact_ids=[ids[DND], ids[SMS_DND], ids[PLAIN]], channel="sms", body="Hi"
    ).execute(make_context())

    counted = paths(votel_sandbox.admin)
    assert (counted[CONTACTS], counted[CONTACT]) == (0, 3)
    assert summary["skipped_recipients"]["opted_out"] == [ids[DND], ids[SMS_DND]]
    assert [r["contact_id"] for r in votel_sandbox.admin.records(votel_api_key, "message")] == [ids[PLAIN]]


def test_an_unknown_contact_id_goes_on_uncounted_and_is_reported_refused(
    votel_sandbox: Any, votel_api_key: str, ids: dict[int, str]
) -> None:
    new = day_of_sends(votel_sandbox.admin, votel_api_key)

    summary = SendMessageOperator(
        task_id="thread", contact_ids=[new, UNKNOWN_CONTACT], channel="sms", body="Hi",
        on_invalid="skip", **CAP,
    ).execute(make_context())  # fmt: skip

    counted = paths(votel_sandbox.admin)
    assert (counted[CONTACTS], counted[CONTACT]) == (0, 2)  # the 404 is read, not the CRM listed
    assert counted[LOGS] == 1 + 1  # the unknown id's sends are not read: no listing of the log
    assert counted[MESSAGES] == 2  # sent on: the API refuses it, as before
    assert summary["errors"] == [{"recipient": UNKNOWN_CONTACT, "error": "Lead not found"}]
    assert [r["contact_id"] for r in votel_sandbox.admin.records(votel_api_key, "message")] == [new]


def test_the_frequency_cap_of_a_thread_message_reads_that_contacts_sends_not_the_log(
    votel_sandbox: Any, votel_api_key: str, ids: dict[int, str]
) -> None:
    admin = votel_sandbox.admin
    new = day_of_sends(admin, votel_api_key)
    kwargs = {"contact_ids": [new], "channel": "sms", "body": "Hi", **CAP}
    assert SendMessageOperator(task_id="welcome", **kwargs).execute(make_context())["sent"] == 1
    other = make_context(run_id="other_dag_run")
    other["ti"].dag_id = "other_dag"
    admin.reset_stats()

    summary = SendMessageOperator(task_id="promo", **kwargs).execute(other)

    counted = paths(admin)
    assert summary["skipped_recipients"]["frequency_capped"] == [new]
    assert counted[LOGS] == 1 + 1  # the STOP replies, then this contact's: not the log's 5 pages
    assert counted[CONTACTS] == 0


def test_contact_ids_are_read_by_id_up_to_the_threshold_and_listed_above_it(
    votel_sandbox: Any, ids: dict[int, str]
) -> None:
    admin = votel_sandbox.admin
    policy = resolve_policy("sms", {})
    # From the SMS-refusing contact on, so both kinds of opt-out are among the first ones.
    at_most = [ids[n] for n in range(SMS_DND, SMS_DND + MAX_RECIPIENTS_LOOKED_UP)]
    one_more = [*at_most, ids[SMS_DND + MAX_RECIPIENTS_LOOKED_UP]]

    few = screen(VotelHook(), at_most, policy, by_contact=True)
    read = paths(admin)
    admin.reset_stats()
    many = screen(VotelHook(), one_more, policy, by_contact=True)
    listed = paths(admin)

    assert (read[CONTACTS], read[CONTACT]) == (0, MAX_RECIPIENTS_LOOKED_UP)
    assert (listed[CONTACTS], listed[CONTACT]) == (CRM // 500 + 1, 0)
    assert few.skipped["opted_out"] == many.skipped["opted_out"] == [ids[SMS_DND], ids[DND]]
    assert many.send_now == [*few.send_now, one_more[-1]]


def test_a_rate_limited_contact_read_is_read_again_not_taken_for_an_unknown_contact(
    votel_sandbox: Any, ids: dict[int, str]
) -> None:
    admin = votel_sandbox.admin
    # Two 429s and a hook that does not retry: each one reaches the policy's own rounds.
    admin.set_faults(burst_429=2, burst_retry_after=0)
    try:
        skipped = VotelHook(max_retries=0).send_message(ids[DND], "sms", "Hi", idempotency_key="thread-dnd")
    finally:
        admin.clear_faults()

    stats = admin.stats()
    assert (skipped["status"], skipped["reason"]) == ("skipped", "opted_out")
    assert stats["by_status"]["429"] == 2  # answered before routing: under the literal path
    assert (stats["paths"][CONTACT], stats["paths"].get(MESSAGES, 0)) == (1, 0)
