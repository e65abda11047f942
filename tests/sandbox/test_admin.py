"""The admin API: its token, accounts, wallets, records and bulk call logs."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.conftest import Api
from votel_airflow.sandbox.server import SandboxError


def test_admin_refuses_a_missing_token(sandbox):
    response = requests.get(f"{sandbox.base_url}/_admin/stats", timeout=10)
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid or missing admin token"}


def test_admin_refuses_a_wrong_token(sandbox):
    response = requests.post(
        f"{sandbox.base_url}/_admin/accounts",
        json={"balance": 1},
        headers={"X-Admin-Token": "wrong"},
        timeout=10,
    )
    assert response.status_code == 403


def test_admin_refuses_an_api_key_instead_of_the_token(sandbox):
    response = requests.get(
        f"{sandbox.base_url}/_admin/stats", headers={"X-API-Key": sandbox.api_keys[0]}, timeout=10
    )
    assert response.status_code == 403


def test_admin_routes_are_not_in_the_public_openapi(sandbox):
    paths = requests.get(f"{sandbox.base_url}/openapi.json", timeout=10).json()["paths"]
    assert not [p for p in paths if p.startswith("/_admin")]


def test_created_account_has_its_balance_and_key(sandbox, make_api):
    key = sandbox.admin.create_account(balance=7.0, seed=False)
    assert key.startswith("sk_")
    assert make_api(key=key).ok("GET", "/payments/wallet")["balance"] == 7.0
    assert key in [a["api_key"] for a in sandbox.admin.accounts()]


def test_set_wallet_changes_the_balance(sandbox, api: Api):
    sandbox.admin.set_wallet(api.session.headers["X-API-Key"], 0.5)
    assert api.ok("GET", "/payments/wallet")["balance"] == 0.5


def test_records_carry_recipient_body_key_and_time(sandbox, api: Api):
    api.ok(
        "POST", "/communication/sms", 201, json={"to": "+14155550123", "body": "count me"},
        headers={"Idempotency-Key": "r1"},
    )  # fmt: skip
    (record,) = sandbox.admin.records(api.session.headers["X-API-Key"], "sms")
    assert record["recipient"] == "+14155550123"
    assert record["body"] == "count me"
    assert record["idempotency_key"] == "r1"
    assert record["created_at"].endswith("+00:00")


def test_records_of_unknown_key_is_an_error(sandbox):
    response = requests.get(
        f"{sandbox.base_url}/_admin/records",
        params={"api_key": "sk_nope", "kind": "sms"},
        headers={"X-Admin-Token": sandbox.admin_token},
        timeout=10,
    )
    assert response.status_code == 404


def test_generated_call_logs_are_deterministic_and_windowed(sandbox, make_api):
    a_key = sandbox.admin.create_account(seed=False)
    a = make_api(key=a_key)
    since, until = "2023-03-01T00:00:00+00:00", "2023-03-02T00:00:00+00:00"
    sandbox.admin.generate_call_logs(a_key, 1200, since, until)
    rows, offset = [], 0
    while page := a.ok(
        "GET", "/activity/call-logs",
        params={"since": since, "until": until, "limit": 500, "offset": offset},
    ):  # fmt: skip
        rows += page
        offset += len(page)
    assert len(rows) == 1200
    assert all(since <= r["created_at"] < until for r in rows)
    keys = [(r["created_at"], r["id"]) for r in rows]
    assert keys == sorted(keys)
    assert len(set(keys)) == 1200
    statuses = {r["status"] for r in rows}
    assert statuses <= {"completed", "no_answer", "busy", "failed"}


def test_generated_contacts_carry_a_mix_of_consent_and_zones(sandbox, make_api):
    key = sandbox.admin.create_account(seed=False)
    sandbox.admin.generate_contacts(key, 200)
    sandbox.admin.generate_contacts(key, 100, start=200)

    contacts = make_api(key=key).ok("GET", "/contacts", params={"limit": 500})

    assert len(contacts) == 300
    assert contacts[7]["phone"] == "+14152000007"
    assert contacts[250]["email"] == "lead250@example.com"
    assert [c["last_name"] for c in contacts if c["dnd"]] == ["0", "97", "194", "291"]
    assert sum(c["dnd_channels"] == ["sms"] for c in contacts) == 4  # 0, 89, 178, 267
    zones = {c["timezone"] for c in contacts}
    assert zones == {None, "America/New_York", "Europe/Paris", "America/Los_Angeles"}


def test_generated_contacts_refuse_numbers_already_taken(sandbox):
    key = sandbox.admin.create_account(seed=False)
    sandbox.admin.generate_contacts(key, 10)

    with pytest.raises(SandboxError, match="409"):
        sandbox.admin.generate_contacts(key, 10, start=5)


def test_generated_messages_are_windowed_linked_to_contacts_and_filterable(sandbox, make_api):
    key = sandbox.admin.create_account(seed=False)
    api = make_api(key=key)
    sandbox.admin.generate_contacts(key, 50)
    since, until = "2026-06-14T00:00:00+00:00", "2026-06-15T00:00:00+00:00"
    sandbox.admin.generate_messages(key, 400, since, until)
    sandbox.admin.generate_messages(key, 30, since, until, direction="inbound", body="STOP")
    window = {"since": since, "until": until, "limit": 500}

    out = api.ok("GET", "/activity/messaging-logs", params={**window, "direction": "outbound"})
    replies = api.ok("GET", "/activity/messaging-logs", params={**window, "direction": "inbound"})
    phones = {c["id"]: c["phone"] for c in api.ok("GET", "/contacts", params={"limit": 500})}
    one = out[0]["contact_id"]
    theirs = api.ok("GET", "/activity/messaging-logs", params={**window, "contact_id": one})

    assert len(out) == 400
    assert len(replies) == 30
    assert all(since <= r["created_at"] < until for r in out)
    assert all(r["to"] == phones[r["contact_id"]] and r["channel"] == "sms" for r in out)
    assert all(r["from"] == phones[r["contact_id"]] and r["body"] == "STOP" for r in replies)
    assert theirs
    assert all(r["contact_id"] == one for r in theirs)


def test_inject_inbound_for_unknown_contact_is_an_error(sandbox, api: Api):
    response = requests.post(
        f"{sandbox.base_url}/_admin/inbound",
        json={"api_key": api.session.headers["X-API-Key"], "contact_id": "nope", "body": "x"},
        headers={"X-Admin-Token": sandbox.admin_token},
        timeout=10,
    )
    assert response.status_code == 404


def test_config_reports_the_stage_timings(sandbox):
    config = sandbox.admin.config()
    assert config["call_stage_seconds"] == 0.2
    assert config["max_body_bytes"] == 1024 * 1024
