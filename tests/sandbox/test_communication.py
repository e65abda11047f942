"""SMS and e-mail: cost, wallet 402, idempotency, delivery state machine, records."""

from __future__ import annotations

import time

import pytest

from tests.sandbox.conftest import Api, wait_for


def _status(api: Api, message_id: str) -> str:
    return str(api.ok("GET", f"/communication/messages/{message_id}")["status"])


def test_sms_is_201_queued_with_segments_and_cost(api: Api):
    sms = api.ok("POST", "/communication/sms", 201, json={"to": "+14155550123", "body": "hi"})
    assert sms["status"] == "queued"
    assert sms["segments"] == 1
    assert sms["cost"] == 0.01


def test_long_sms_costs_per_segment(api: Api):
    sms = api.ok("POST", "/communication/sms", 201, json={"to": "+14155550123", "body": "x" * 161})
    assert sms["segments"] == 2
    assert sms["cost"] == 0.02
    assert api.ok("GET", "/payments/wallet")["balance"] == 100.0 - 0.02


def test_sms_moves_queued_sent_delivered(unhurried_api: Api):
    api = unhurried_api
    sms = api.ok("POST", "/communication/sms", 201, json={"to": "+14155550123", "body": "hi"})
    seen = []
    deadline = time.monotonic() + 30  # a bound for a broken message, far past its 2 s
    while time.monotonic() < deadline:
        status = _status(api, sms["id"])
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "delivered":
            break
        time.sleep(0.02)
    assert seen[-1] == "delivered"
    assert seen == [s for s in ["queued", "sent", "delivered"] if s in seen]
    assert "sent" in seen


@pytest.mark.parametrize(("to", "final"), [("+14155550113", "undelivered"), ("+14155550166", "failed")])
def test_sms_to_numbers_ending_13_or_66_do_not_deliver(api: Api, to, final):
    sms = api.ok("POST", "/communication/sms", 201, json={"to": to, "body": "hi"})
    assert wait_for(lambda: _status(api, sms["id"]) == final)


def test_sms_to_invalid_number_is_422(api: Api):
    response = api.post("/communication/sms", json={"to": "555-0100", "body": "hi"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "to"]


def test_empty_sms_body_is_422(api: Api):
    assert api.post("/communication/sms", json={"to": "+14155550123", "body": ""}).status_code == 422


def test_sms_with_empty_wallet_is_402_and_sends_nothing(sandbox, make_api):
    api = make_api(balance=0.0)
    response = api.post("/communication/sms", json={"to": "+14155550123", "body": "hi"})
    assert response.status_code == 402
    assert response.json() == {"detail": "Insufficient wallet balance"}
    key = api.session.headers["X-API-Key"]
    assert sandbox.admin.records(key, "sms") == []


def test_wallet_runs_dry_exactly(sandbox, make_api):
    api = make_api(balance=0.03)
    codes = [
        api.post("/communication/sms", json={"to": "+14155550123", "body": "hi"}).status_code
        for _ in range(4)
    ]
    assert codes == [201, 201, 201, 402]
    assert api.ok("GET", "/payments/wallet")["balance"] == 0.0


def test_debits_create_transactions(api: Api):
    sms = api.ok("POST", "/communication/sms", 201, json={"to": "+14155550123", "body": "hi"})
    txs = api.ok("GET", "/payments/transactions", params={"since": sms["created_at"]})
    assert [t["reference_id"] for t in txs] == [sms["id"]]
    assert txs[0]["amount"] == -0.01
    assert txs[0]["balance_after"] == 99.99


def test_idempotency_key_repeat_returns_first_response_and_sends_once(sandbox, api: Api):
    headers = {"Idempotency-Key": "send-1"}
    body = {"to": "+14155550123", "body": "hi"}
    first = api.post("/communication/sms", json=body, headers=headers)
    second = api.post("/communication/sms", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    key = api.session.headers["X-API-Key"]
    records = sandbox.admin.records(key, "sms")
    assert len(records) == 1
    assert records[0]["idempotency_key"] == "send-1"
    assert records[0]["recipient"] == "+14155550123"
    assert api.ok("GET", "/payments/wallet")["balance"] == 99.99


def test_different_idempotency_keys_send_twice(sandbox, api: Api):
    body = {"to": "+14155550123", "body": "hi"}
    api.ok("POST", "/communication/sms", 201, json=body, headers={"Idempotency-Key": "a"})
    api.ok("POST", "/communication/sms", 201, json=body, headers={"Idempotency-Key": "b"})
    assert len(sandbox.admin.records(api.session.headers["X-API-Key"], "sms")) == 2


def test_idempotency_keys_are_per_account(sandbox, make_api):
    a, b = make_api(), make_api()
    body = {"to": "+14155550123", "body": "hi"}
    first = a.ok("POST", "/communication/sms", 201, json=body, headers={"Idempotency-Key": "k"})
    second = b.ok("POST", "/communication/sms", 201, json=body, headers={"Idempotency-Key": "k"})
    assert first["id"] != second["id"]


def test_refused_request_does_not_consume_the_idempotency_key(sandbox, make_api):
    api = make_api(balance=0.0)
    key = api.session.headers["X-API-Key"]
    body = {"to": "+14155550123", "body": "hi"}
    assert api.post("/communication/sms", json=body, headers={"Idempotency-Key": "x"}).status_code == 402
    sandbox.admin.set_wallet(key, 1.0)
    assert api.post("/communication/sms", json=body, headers={"Idempotency-Key": "x"}).status_code == 201
    assert len(sandbox.admin.records(key, "sms")) == 1


def test_email_costs_a_tenth_of_a_cent_and_delivers(api: Api):
    email = api.ok(
        "POST", "/communication/email", 201,
        json={"to": "someone@example.com", "subject": "Hi", "text": "Hello"},
    )  # fmt: skip
    assert email["cost"] == 0.001
    assert wait_for(lambda: _status(api, email["id"]) == "delivered")


def test_email_without_content_is_422(api: Api):
    response = api.post("/communication/email", json={"to": "a@b.test", "subject": "Hi"})
    assert response.status_code == 422


def test_email_template_renders_variables(sandbox, api: Api):
    template = api.ok(
        "POST", "/email-templates", 201,
        json={"name": "T", "subject": "Hi {{name}}", "html": "<p>Dear {{name}}</p>"},
    )  # fmt: skip
    assert template in api.ok("GET", "/email-templates")
    api.ok(
        "POST", "/communication/email", 201,
        json={"to": "a@b.test", "subject": "Hi {{name}}", "template_id": template["id"],
              "variables": {"name": "Ada"}},
    )  # fmt: skip
    record = sandbox.admin.records(api.session.headers["X-API-Key"], "email")[0]
    assert record["body"] == "<p>Dear Ada</p>"
    assert record["subject"] == "Hi Ada"


def test_email_with_unknown_template_is_404(api: Api):
    response = api.post(
        "/communication/email", json={"to": "a@b.test", "subject": "x", "template_id": "nope"}
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Template not found"}


def test_unknown_message_is_404(api: Api):
    assert api.get("/communication/messages/nope").json() == {"detail": "Message not found"}


def test_sent_messages_appear_in_messaging_logs(api: Api):
    sms = api.ok("POST", "/communication/sms", 201, json={"to": "+14155550123", "body": "logme"})
    rows = api.ok("GET", "/activity/messaging-logs", params={"since": sms["created_at"]})
    assert [r["id"] for r in rows] == [sms["id"]]
    assert rows[0]["direction"] == "outbound"
    assert rows[0]["channel"] == "sms"
