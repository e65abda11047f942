"""Workflow enrollments under the outreach policy: enrolling lets the workflow reach a person, so a
contact who opted out (``dnd``; a named channel in ``dnd_channels``) or is on the suppression list is
not enrolled, and the result counts it under its reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.delivery.test_screening import A, B, C, contact
from tests.support import make_context
from votel_airflow import endpoints
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.workflows import EnrollContactOperator


@pytest.fixture
def workflow_id(votel_connection: str) -> str:
    return str(VotelHook().get(endpoints.WORKFLOWS)[0]["id"])


def enrolled(admin: Any, api_key: str) -> list[str]:
    return sorted(record["contact_id"] for record in admin.records(api_key, "enrollment"))


def test_a_dnd_contact_is_not_enrolled_and_is_reported_opted_out(
    votel_sandbox: Any, votel_api_key: str, workflow_id: str
) -> None:
    flagged = contact(A, dnd=True)["id"]
    willing = contact(B)["id"]

    result = EnrollContactOperator(
        task_id="enroll", workflow_id=workflow_id, contact_ids=[flagged, willing]
    ).execute(make_context())

    assert enrolled(votel_sandbox.admin, votel_api_key) == [willing]
    assert result["enrolled"] == [willing]
    assert result["skipped"]["opted_out"] == 1
    assert result["skipped_recipients"]["opted_out"] == [flagged]


def test_a_channel_opt_out_keeps_a_contact_out_only_of_a_workflow_on_that_channel(
    votel_sandbox: Any, votel_api_key: str, workflow_id: str
) -> None:
    no_texts = contact(A, dnd_channels=["sms"])["id"]

    by_email = EnrollContactOperator(
        task_id="email_workflow", workflow_id=workflow_id, contact_ids=[no_texts], channels=["email"]
    ).execute(make_context())
    by_sms = EnrollContactOperator(
        task_id="sms_workflow", workflow_id=workflow_id, contact_ids=[no_texts], channels=["sms", "email"]
    ).execute(make_context())

    assert by_email["enrolled"] == [no_texts]
    assert by_sms["skipped_recipients"]["opted_out"] == [no_texts]
    assert by_sms["already_enrolled"] == []


def test_a_contact_whose_phone_or_email_is_on_the_suppression_list_is_not_enrolled(
    votel_sandbox: Any, votel_api_key: str, workflow_id: str, tmp_path: Path
) -> None:
    # The workflow may text or e-mail them: either address on the list keeps the contact out.
    listed = tmp_path / "suppressed.txt"
    listed.write_text(f"ada@example.com\n{B}\n")
    by_email = contact(A, "Ada@Example.com")["id"]
    by_phone = contact(B, "bob@example.com")["id"]
    other = contact(C)["id"]

    result = EnrollContactOperator(
        task_id="enroll", workflow_id=workflow_id, contact_ids=[by_email, by_phone, other],
        suppression_list=str(listed),
    ).execute(make_context())  # fmt: skip

    assert enrolled(votel_sandbox.admin, votel_api_key) == [other]
    assert sorted(result["skipped_recipients"]["suppressed"]) == sorted([by_email, by_phone])


def test_when_everyone_is_kept_out_nothing_is_posted_and_a_retry_reports_them_again(
    votel_sandbox: Any, votel_api_key: str, workflow_id: str
) -> None:
    from tests.support import FakeStateStore

    flagged = contact(A, dnd=True)["id"]
    store = FakeStateStore()
    operator = EnrollContactOperator(task_id="enroll", workflow_id=workflow_id, contact_ids=[flagged])
    operator.execute(make_context(state_store=store))
    votel_sandbox.admin.reset_stats()

    retry = operator.execute(make_context(state_store=store))

    assert enrolled(votel_sandbox.admin, votel_api_key) == []
    assert retry["skipped_recipients"]["opted_out"] == [flagged]
    # The retry read its record: no screening, no enrollment request.
    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_the_enroll_contacts_verb_keeps_out_a_dnd_contact(
    votel_sandbox: Any, votel_api_key: str, workflow_id: str
) -> None:
    flagged = contact(A, dnd=True)["id"]
    willing = contact(B)["id"]

    result = VotelHook().enroll_contacts(workflow_id, [flagged, willing], idempotency_key="welcome-batch")

    assert result["enrolled"] == [willing]
    assert result["skipped"] == {"opted_out": [flagged]}
    assert enrolled(votel_sandbox.admin, votel_api_key) == [willing]
