"""Threads: messages sent in a thread, automatic "YES" replies, injected inbound messages."""

from __future__ import annotations

from tests.sandbox.conftest import Api, wait_for


def _contact(api: Api, phone: str, **extra) -> dict:
    return api.ok("POST", "/contacts", 201, json={"first_name": "C", "phone": phone, **extra})


def test_thread_message_is_201_recorded_and_charged(sandbox, api: Api):
    contact = _contact(api, "+14155550201")
    msg = api.ok(
        "POST", "/conversations/messages", 201,
        json={"contact_id": contact["id"], "channel": "sms", "body": "Hello"},
    )  # fmt: skip
    assert msg["status"] == "queued"
    assert msg["conversation_id"]
    records = sandbox.admin.records(api.session.headers["X-API-Key"], "message")
    assert [(r["recipient"], r["body"]) for r in records] == [("+14155550201", "Hello")]
    assert api.ok("GET", "/payments/wallet")["balance"] == 99.99


def test_thread_message_to_unknown_contact_is_404(api: Api):
    response = api.post("/conversations/messages", json={"contact_id": "nope", "channel": "sms", "body": "x"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Lead not found"}


def test_thread_email_to_contact_without_email_is_400(api: Api):
    contact = _contact(api, "+14155550202")
    response = api.post(
        "/conversations/messages",
        json={"contact_id": contact["id"], "channel": "email", "body": "x"},
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Contact has no email address"}


def test_contact_with_phone_ending_7_replies_yes_later(api: Api):
    contact = _contact(api, "+14155550207")
    msg = api.ok(
        "POST", "/conversations/messages", 201,
        json={"contact_id": contact["id"], "channel": "sms", "body": "Book?"},
    )  # fmt: skip
    path = f"/conversations/{msg['conversation_id']}/messages"
    assert [m["direction"] for m in api.ok("GET", path)] == ["outbound"]
    messages = wait_for(lambda: len(m := api.ok("GET", path)) == 2 and m)
    assert messages[1]["direction"] == "inbound"
    assert messages[1]["body"] == "YES"
    assert messages[1]["created_at"] > messages[0]["created_at"]
    thread = next(c for c in api.ok("GET", "/conversations") if c["id"] == msg["conversation_id"])
    assert thread["unread"] == 1
    assert thread["last_message_at"] == messages[1]["created_at"]


def test_plain_sms_to_a_contact_ending_7_also_gets_a_reply(api: Api):
    contact = _contact(api, "+14155550217")
    api.ok("POST", "/communication/sms", 201, json={"to": contact["phone"], "body": "hi"})
    logs = wait_for(
        lambda: [
            m for m in api.ok("GET", "/activity/messaging-logs", params={"direction": "inbound",
                                                                         "limit": 500})
            if m["contact_id"] == contact["id"]
        ]
    )  # fmt: skip
    assert logs[0]["body"] == "YES"


def test_contact_not_ending_7_never_replies(api: Api):
    import time

    contact = _contact(api, "+14155550208")
    msg = api.ok(
        "POST", "/conversations/messages", 201,
        json={"contact_id": contact["id"], "channel": "sms", "body": "Hi"},
    )  # fmt: skip
    time.sleep(0.5)
    messages = api.ok("GET", f"/conversations/{msg['conversation_id']}/messages")
    assert [m["direction"] for m in messages] == ["outbound"]


def test_injected_inbound_message_is_visible_at_once(sandbox, api: Api):
    contact = _contact(api, "+14155550209")
    key = api.session.headers["X-API-Key"]
    injected = sandbox.admin.inject_inbound(key, contact["id"], "Call me")
    threads = api.ok("GET", "/conversations", params={"channel": "sms"})
    thread = next(t for t in threads if t["contact_id"] == contact["id"])
    assert thread["id"] == injected["conversation_id"]
    messages = api.ok("GET", f"/conversations/{thread['id']}/messages")
    assert [(m["direction"], m["body"]) for m in messages] == [("inbound", "Call me")]


def test_conversations_are_most_recent_first_and_filter_by_channel(api: Api):
    threads = api.ok("GET", "/conversations", params={"limit": 500})
    stamps = [t["last_message_at"] for t in threads]
    assert stamps == sorted(stamps, reverse=True)
    emails = api.ok("GET", "/conversations", params={"channel": "email", "limit": 500})
    assert emails
    assert all(t["channel"] == "email" for t in emails)


def test_unknown_conversation_is_404(api: Api):
    response = api.get("/conversations/nope/messages")
    assert response.status_code == 404
    assert response.json() == {"detail": "Conversation not found"}


def test_quick_replies_and_channels_listed(api: Api):
    assert len(api.ok("GET", "/quick-replies")) == 4
    assert {c["type"] for c in api.ok("GET", "/channels")} == {"sms", "email", "whatsapp"}
