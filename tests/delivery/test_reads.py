"""What the outreach policy's reads cost against the sandbox: a send to a few looks each recipient
up (its cost follows the recipients), a large send lists (its cost follows the CRM and the log)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.support import make_context
from votel_airflow.defaults import MAX_RECIPIENTS_LOOKED_UP
from votel_airflow.delivery.policy import resolve_policy
from votel_airflow.delivery.screening import screen
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.communication import SendSmsOperator
from votel_airflow.sandbox.bulk_outreach import generated_phone

CRM = 5_000
CONTACTS = "GET /contacts"
LOGS = "GET /activity/messaging-logs"
CAP = {"max_per_recipient": (1, "24h")}


def crm_with_a_day_of_sends(admin: Any, api_key: str) -> None:
    """5,000 contacts (10 pages) and 2,000 SMS sent to them in the last hours (4 pages)."""
    admin.generate_contacts(api_key, CRM)
    now = datetime.now(timezone.utc)  # the log window is read on the wall clock
    admin.generate_messages(api_key, 2_000, now - timedelta(hours=6), now - timedelta(minutes=1))


def paths(admin: Any) -> Counter[str]:
    return Counter(admin.stats()["paths"])


def test_a_send_to_three_in_a_crm_of_5000_makes_a_handful_of_requests(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    admin = votel_sandbox.admin
    crm_with_a_day_of_sends(admin, votel_api_key)
    # Contacts 1-3: no flags; zones Paris, Los Angeles, and none (a San Francisco number).
    three = [generated_phone(n) for n in (1, 2, 3)]
    admin.reset_stats()

    summary = SendSmsOperator(task_id="sms", to=three, body="Sale", **CAP).execute(make_context())

    counted = paths(admin)
    assert counted[CONTACTS] == 3  # one search each, not the 10 pages of the CRM
    assert counted[LOGS] == 1 + 3  # the STOP replies, then each contact's sends of the cap's day
    assert sum(counted.values()) - counted["POST /communication/sms"] <= 7
    assert summary["sent"] + sum(summary["skipped"].values()) == 3


def test_a_looked_up_recipient_is_judged_by_its_contacts_flags_zone_and_sends(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    admin = votel_sandbox.admin
    admin.generate_contacts(votel_api_key, 100)
    flagged, refuses_sms, in_paris = generated_phone(0), generated_phone(89), generated_phone(11)
    SendSmsOperator(task_id="welcome", to=[in_paris], body="Welcome", **CAP).execute(make_context())
    other = make_context(run_id="other_dag_run")
    other["ti"].dag_id = "other_dag"

    summary = SendSmsOperator(
        task_id="promo", to=[flagged, refuses_sms, in_paris, generated_phone(12)], body="Promo", **CAP
    ).execute(other)

    assert summary["skipped_recipients"]["opted_out"] == [flagged, refuses_sms]
    assert summary["skipped_recipients"]["frequency_capped"] == [in_paris]
    assert summary["sent"] == 1


def test_a_send_to_5000_still_lists_the_contacts_and_the_log(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    admin = votel_sandbox.admin
    crm_with_a_day_of_sends(admin, votel_api_key)
    recipients = [generated_phone(n) for n in range(CRM)]
    policy = resolve_policy("sms", {"max_per_recipient": [1, "24h"]})
    admin.reset_stats()

    verdict = screen(VotelHook(), recipients, policy)

    counted = paths(admin)
    assert counted[CONTACTS] <= CRM // 500 + 1  # the listing's pages, not 5,000 searches
    assert counted[LOGS] <= 1 + 2_000 // 500 + 1  # the STOP replies, then the day's sends listed
    assert len(verdict.skipped["frequency_capped"]) > 1_000


def test_the_look_up_stops_above_its_threshold(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    admin = votel_sandbox.admin
    admin.generate_contacts(votel_api_key, 1_000)
    policy = resolve_policy("sms", {})
    at_most = [generated_phone(n) for n in range(MAX_RECIPIENTS_LOOKED_UP)]
    admin.reset_stats()

    screen(VotelHook(), at_most, policy)
    looked_up = paths(admin)[CONTACTS]
    admin.reset_stats()
    screen(VotelHook(), [*at_most, generated_phone(999)], policy)
    listed = paths(admin)[CONTACTS]

    assert looked_up == MAX_RECIPIENTS_LOOKED_UP
    assert listed <= 1_000 // 500 + 1
