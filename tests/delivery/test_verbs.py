"""The hook verbs apply the same outreach policy as the operators; ``transactional=True`` goes at
any hour and past caps, never past an opt-out."""

from __future__ import annotations

from typing import Any

import pytest

from tests.delivery.test_screening import MORNING_IN_CALIFORNIA, NIGHT_IN_CALIFORNIA, A, B, contact, texted
from votel_airflow.defaults import POLICY_CLOCK_ENV
from votel_airflow.hooks.votel import VotelHook


def test_send_sms_skips_an_opted_out_number_even_when_transactional(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    contact(A, dnd_channels=["sms"])
    hook = VotelHook()

    plain = hook.send_sms(A, "Sale", idempotency_key="sale-a")
    code = hook.send_sms(A, "Your code is 123456", idempotency_key="code-a", transactional=True)

    assert plain == {"id": None, "status": "skipped", "to": A, "reason": "opted_out"}
    assert code["reason"] == "opted_out"
    assert texted(votel_sandbox.admin, votel_api_key) == {}


def test_send_sms_at_night_waits_unless_transactional(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    hook = VotelHook()

    # --8<-- [start:transactional]
    marketing = hook.send_sms(A, "Sale", idempotency_key="sale-a")
    code = hook.send_sms(B, "Your code is 123456", idempotency_key="code-b", transactional=True)
    # --8<-- [end:transactional]

    assert (marketing["reason"], marketing["next_opening"]) == (
        "quiet_hours",
        MORNING_IN_CALIFORNIA.isoformat(),
    )
    assert code["id"]
    assert code["status"] == "queued"
    assert texted(votel_sandbox.admin, votel_api_key) == {B: 1}


def test_send_email_is_capped_unless_transactional(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_VOTEL_DEFAULT"])
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps({**conn, "extra": {"max_per_recipient": [1, "1d"]}})
    )
    hook = VotelHook()
    hook.send_email("ada@example.com", "Welcome", text="Hi", idempotency_key="welcome")

    promo = hook.send_email("ada@example.com", "Promo", text="Sale", idempotency_key="promo")
    receipt = hook.send_email(
        "ada@example.com", "Receipt", text="Paid", idempotency_key="receipt", transactional=True
    )

    assert promo["reason"] == "frequency_capped"
    assert receipt["id"]
    assert len(votel_sandbox.admin.records(votel_api_key, "email")) == 2


def test_the_sms_notifier_pages_at_night_but_never_an_opted_out_number(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support import make_context
    from votel_airflow.notifications import VotelSmsNotifier

    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    contact(B, dnd=True)
    context = make_context()
    context["ti"].state = "failed"

    VotelSmsNotifier(to=A, body="{{ ti.task_id }} failed")(dict(context))
    VotelSmsNotifier(to=B, body="{{ ti.task_id }} failed")(dict(context))

    assert texted(votel_sandbox.admin, votel_api_key) == {A: 1}
