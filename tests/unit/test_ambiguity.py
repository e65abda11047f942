"""Reconciliation against the messaging log: a logged message counts for a send only if it is that send."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest

from votel_airflow import endpoints
from votel_airflow.delivery.ambiguity import reconcile_messages
from votel_airflow.hooks.votel import VotelHook

ADDRESS = "ana@example.com"
INVOICE = {"to": ADDRESS, "subject": "Your invoice", "text": "Invoice 1042 is due on Friday."}


@pytest.fixture
def hook(votel_connection: str) -> VotelHook:
    return VotelHook()


def send(hook: VotelHook, path: str, body: dict[str, Any]) -> tuple[str, float]:
    """Send for real; return the message id and when the messaging log says it was sent."""
    message = hook.request("POST", path, json=body)
    [row] = [r for r in hook.paginate(endpoints.MESSAGING_LOGS, params={"direction": "outbound"})
             if r["id"] == message["id"]]  # fmt: skip
    return message["id"], pendulum.parse(row["created_at"]).timestamp()  # type: ignore[union-attr]


def test_an_earlier_email_to_the_address_with_another_subject_does_not_reconcile(hook: VotelHook) -> None:
    _, sent_at = send(hook, endpoints.EMAIL, {"to": ADDRESS, "subject": "Welcome", "text": "Hello Ana."})

    found = reconcile_messages(hook, {"ana": INVOICE}, since=sent_at - 60)

    assert found == {}


def test_an_earlier_email_with_the_subject_but_other_content_does_not_reconcile(hook: VotelHook) -> None:
    other = dict(INVOICE, text="Invoice 1041 is paid, thank you.")
    _, sent_at = send(hook, endpoints.EMAIL, other)

    assert reconcile_messages(hook, {"ana": INVOICE}, since=sent_at - 60) == {}


def test_an_identical_email_sent_before_the_attempt_does_not_reconcile(hook: VotelHook) -> None:
    # Last week's reminder, word for word: it was logged before this send could have left.
    _, sent_at = send(hook, endpoints.EMAIL, INVOICE)

    found = reconcile_messages(hook, {"ana": INVOICE}, since=sent_at - 60, attempted={"ana": sent_at + 0.001})

    assert found == {}


def test_the_email_of_this_send_is_reconciled(hook: VotelHook) -> None:
    send(hook, endpoints.EMAIL, {"to": ADDRESS, "subject": "Welcome", "text": "Hello Ana."})
    message_id, sent_at = send(hook, endpoints.EMAIL, INVOICE)

    found = reconcile_messages(hook, {"ana": INVOICE}, since=sent_at - 60, attempted={"ana": sent_at - 1})

    assert found == {"ana": message_id}


def test_an_sms_sent_before_the_attempt_does_not_reconcile(hook: VotelHook) -> None:
    sms = {"to": "+14155550190", "body": "Doors open at 9"}
    _, sent_at = send(hook, endpoints.SMS, sms)

    found = reconcile_messages(hook, {"x": sms}, since=sent_at - 60, attempted={"x": sent_at + 0.001})

    assert found == {}
