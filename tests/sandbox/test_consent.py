"""Consent (contract 2026-12-b): contacts' dnd, dnd_channels and timezone; the messaging log's
rows and filters; inbound replies injected through the admin API."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tests.sandbox.conftest import Api
from tests.support import SANDBOX_TODAY
from votel_airflow.sandbox import contacts_db
from votel_airflow.sandbox.server import SandboxError
from votel_airflow.sandbox.store import Store

#: The row of GET /activity/messaging-logs as the contract specifies it.
LOG_ROW = {
    "id",
    "channel",
    "direction",
    "contact_id",
    "from",
    "to",
    "subject",
    "body",
    "status",
    "created_at",
}
CONTACT = {
    "id", "first_name", "last_name", "phone", "email", "tags", "custom_fields",
    "dnd", "dnd_channels", "timezone", "created_at", "updated_at",
}  # fmt: skip
LAST_WEEK = SANDBOX_TODAY - timedelta(days=7)


@pytest.fixture
def empty(make_api: Callable[..., Api]) -> Api:
    """An account with no seed data, so every listing holds only what the test made."""
    return make_api(seed=False)


def _key(api: Api) -> str:
    return str(api.session.headers["X-API-Key"])


def test_a_new_or_seeded_contact_is_reachable_with_its_time_zone_unknown(api: Api):
    contact = api.ok("POST", "/contacts", 201, json={"first_name": "Ada", "phone": "+14155550150"})
    assert set(contact) >= CONTACT
    assert (contact["dnd"], contact["dnd_channels"], contact["timezone"]) == (False, [], None)
    seeded = api.ok("GET", "/contacts", params={"limit": 500})
    assert len(seeded) > 100
    assert all(set(c) >= CONTACT and not c["dnd"] and c["dnd_channels"] == [] for c in seeded)


def test_create_and_patch_set_the_consent_fields_which_get_and_list_show(empty: Api):
    body = {"first_name": "Ada", "dnd_channels": ["call", "sms", "call"], "timezone": "Europe/London"}
    contact = empty.ok("POST", "/contacts", 201, json=body)
    # A set: one entry per channel, in the contract's order.
    assert contact["dnd_channels"] == ["sms", "call"]
    assert contact["timezone"] == "Europe/London"
    patched = empty.ok(
        "PATCH", f"/contacts/{contact['id']}", json={"dnd": True, "timezone": "America/Los_Angeles"}
    )
    assert (patched["dnd"], patched["dnd_channels"], patched["timezone"]) == (
        True, ["sms", "call"], "America/Los_Angeles",
    )  # fmt: skip
    assert empty.ok("GET", f"/contacts/{contact['id']}") == patched
    assert empty.ok("GET", "/contacts") == [patched]
    cleared = empty.ok("PATCH", f"/contacts/{contact['id']}", json={"dnd_channels": [], "timezone": None})
    assert (cleared["dnd"], cleared["dnd_channels"], cleared["timezone"]) == (True, [], None)


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("dnd_channels", ["fax"], "'sms', 'email', 'whatsapp' or 'call'"),
        ("dnd_channels", "sms", "valid list"),
        ("timezone", "Mars/Olympus_Mons", "not an IANA time zone name"),
        ("timezone", "EST-5", "not an IANA time zone name"),
        ("dnd", "maybe", "valid boolean"),
    ],
)
def test_a_bad_consent_value_is_a_422_naming_the_field(empty: Api, field, value, detail):
    contact = empty.ok("POST", "/contacts", 201, json={"first_name": "Ada"})
    for method, path, extra in (
        ("POST", "/contacts", {"first_name": "Bo"}),
        ("PATCH", f"/contacts/{contact['id']}", {}),
    ):
        response = empty.request(method, path, json={**extra, field: value})
        assert response.status_code == 422, (method, response.text)
        problem = response.json()["detail"][0]
        assert problem["loc"][:2] == ["body", field]
        assert detail in problem["msg"]
    assert empty.ok("GET", f"/contacts/{contact['id']}") == contact


@pytest.mark.parametrize("field", ["dnd", "dnd_channels"])
def test_a_patch_cannot_clear_consent_to_null(empty: Api, field):
    contact = empty.ok("POST", "/contacts", 201, json={"first_name": "Ada"})
    response = empty.patch(f"/contacts/{contact['id']}", json={field: None})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert response.json()["detail"][0]["msg"] == f"{field} cannot be null"


def test_the_dnd_filter_lists_the_contacts_that_opted_out_of_anything(empty: Api):
    reachable = empty.ok("POST", "/contacts", 201, json={"first_name": "A", "timezone": "UTC"})
    everywhere = empty.ok("POST", "/contacts", 201, json={"first_name": "B", "dnd": True})
    by_mail = empty.ok("POST", "/contacts", 201, json={"first_name": "C", "dnd_channels": ["email"]})
    opted_out = empty.ok("GET", "/contacts", params={"dnd": "true"})
    assert [c["id"] for c in opted_out] == [everywhere["id"], by_mail["id"]]
    assert [c["id"] for c in empty.ok("GET", "/contacts", params={"dnd": "false"})] == [reachable["id"]]
    assert len(empty.ok("GET", "/contacts")) == 3


def _logs(api: Api, **params: str) -> list[dict]:
    return list(api.ok("GET", "/activity/messaging-logs", params={"limit": 500, **params}))


def test_every_send_the_api_accepts_is_an_outbound_row_of_the_messaging_log(empty: Api):
    ada = empty.ok("POST", "/contacts", 201, json={"first_name": "Ada", "phone": "+14155550150"})
    bo = empty.ok("POST", "/contacts", 201, json={"first_name": "Bo", "email": "bo@example.com"})
    sms = empty.ok("POST", "/communication/sms", 201, json={"to": "+14155550150", "body": "s1"})
    stranger = empty.ok("POST", "/communication/sms", 201, json={"to": "+14155550151", "body": "s2"})
    mail = empty.ok(
        "POST", "/communication/email", 201, json={"to": "bo@example.com", "subject": "Hi", "text": "e1"}
    )
    whatsapp = empty.ok(
        "POST", "/conversations/messages", 201,
        json={"contact_id": ada["id"], "channel": "whatsapp", "body": "w1"},
    )  # fmt: skip
    thread_mail = empty.ok(
        "POST", "/conversations/messages", 201,
        json={"contact_id": bo["id"], "channel": "email", "body": "e2", "subject": "Re"},
    )  # fmt: skip
    rows = {row["id"]: row for row in _logs(empty)}
    expected = {
        sms["id"]: ("sms", ada["id"], "+14155550150", None, "s1"),
        stranger["id"]: ("sms", None, "+14155550151", None, "s2"),
        mail["id"]: ("email", bo["id"], "bo@example.com", "Hi", "e1"),
        whatsapp["id"]: ("whatsapp", ada["id"], "+14155550150", None, "w1"),
        thread_mail["id"]: ("email", bo["id"], "bo@example.com", "Re", "e2"),
    }
    assert set(rows) == set(expected)
    for message_id, (channel, contact_id, to, subject, body) in expected.items():
        row = rows[message_id]
        assert set(row) >= LOG_ROW
        assert row["direction"] == "outbound"
        assert (row["channel"], row["contact_id"], row["to"], row["subject"], row["body"]) == (
            channel, contact_id, to, subject, body,
        )  # fmt: skip
    assert _logs(empty, direction="inbound") == []


def test_the_messaging_log_filters_by_channel_and_contact(empty: Api):
    ada = empty.ok("POST", "/contacts", 201, json={"first_name": "Ada", "phone": "+14155550150"})
    empty.ok("POST", "/contacts", 201, json={"first_name": "Bo", "phone": "+14155550152"})
    for to, body in (("+14155550150", "a1"), ("+14155550152", "b1"), ("+14155550150", "a2")):
        empty.ok("POST", "/communication/sms", 201, json={"to": to, "body": body})
    empty.ok(
        "POST", "/conversations/messages", 201,
        json={"contact_id": ada["id"], "channel": "whatsapp", "body": "a3"},
    )  # fmt: skip
    assert [r["body"] for r in _logs(empty, contact_id=ada["id"])] == ["a1", "a2", "a3"]
    assert [r["body"] for r in _logs(empty, channel="sms")] == ["a1", "b1", "a2"]
    assert [r["body"] for r in _logs(empty, channel="whatsapp", contact_id=ada["id"])] == ["a3"]
    assert _logs(empty, channel="email") == []
    response = empty.get("/activity/messaging-logs", params={"channel": "call"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "channel"]


def test_an_injected_reply_from_a_number_joins_the_contact_with_that_phone(sandbox, empty: Api):
    ada = empty.ok("POST", "/contacts", 201, json={"first_name": "Ada", "phone": "+14155550150"})
    stop = sandbox.admin.inject_inbound(_key(empty), from_="+14155550150", body="STOP", at=LAST_WEEK)
    unknown = sandbox.admin.inject_inbound(_key(empty), from_="+14155550199", body="Who is this?")
    rows = _logs(empty, direction="inbound")
    assert [r["id"] for r in rows] == [stop["id"], unknown["id"]]
    first, second = rows
    assert set(first) >= LOG_ROW
    assert (first["contact_id"], first["from"], first["body"], first["channel"]) == (
        ada["id"], "+14155550150", "STOP", "sms",
    )  # fmt: skip
    # Dated when it was received, and listed at once by a window around that time.
    assert first["created_at"] == LAST_WEEK.isoformat()
    window = {"since": LAST_WEEK.subtract(hours=1).isoformat(), "until": LAST_WEEK.add(hours=1).isoformat()}
    assert [r["id"] for r in _logs(empty, **window)] == [stop["id"]]
    assert (second["contact_id"], second["from"], second["to"]) == (None, "+14155550199", "+14155550100")
    thread = empty.ok("GET", f"/conversations/{stop['conversation_id']}/messages")
    assert [m["body"] for m in thread] == ["STOP"]


def test_an_injected_reply_dated_later_than_now_is_listed_at_once(sandbox, empty: Api):
    later = SANDBOX_TODAY.add(years=5)
    reply = sandbox.admin.inject_inbound(_key(empty), from_="+14155550150", body="START", at=later)
    assert [r["id"] for r in _logs(empty)] == [reply["id"]]
    assert reply["created_at"] == later.isoformat()


def test_an_injected_email_reply_joins_the_contact_with_that_address(sandbox, empty: Api):
    bo = empty.ok("POST", "/contacts", 201, json={"first_name": "Bo", "email": "bo@example.com"})
    sandbox.admin.inject_inbound(_key(empty), from_="bo@example.com", body="unsubscribe", channel="email")
    [row] = _logs(empty, channel="email", direction="inbound")
    assert (row["contact_id"], row["from"], row["to"]) == (bo["id"], "bo@example.com", "hello@example.com")


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"body": "STOP"}, "give exactly one of contact_id or from"),
        ({"body": "STOP", "from": "+14155550150", "contact_id": "x"}, "give exactly one"),
        ({"body": "STOP", "from": "4155550150"}, "is not an E.164 number"),
        ({"body": "STOP", "from": "+14155550150", "channel": "email"}, "is not an e-mail address"),
        ({"body": "", "from": "+14155550150"}, "at least 1 character"),
    ],
)
def test_a_bad_injection_is_refused_naming_the_problem(sandbox, empty: Api, payload, detail):
    with pytest.raises(SandboxError, match="422") as raised:
        sandbox.admin._call("POST", "/inbound", json={"api_key": _key(empty), **payload})
    assert detail in str(raised.value)
    assert _logs(empty) == []


def test_contacts_stored_before_consent_existed_read_with_the_defaults(tmp_path: Path):
    path = str(tmp_path / "old.db")
    Store(path).close()
    with sqlite3.connect(path) as conn:  # a contact as an older sandbox wrote it
        conn.execute(
            "INSERT INTO contacts (account_id, id, tags, search, updated_at, doc)"
            " VALUES ('a', 'c', '[]', '', '2026-01-01', '{\"id\": \"c\", \"first_name\": \"Old\"}')"
        )
    store = Store(path)
    try:
        with store.tx() as tx:
            doc = contacts_db.get(tx, "a", "c")
    finally:
        store.close()
    assert doc == {"id": "c", "first_name": "Old", "dnd": False, "dnd_channels": [], "timezone": None}
