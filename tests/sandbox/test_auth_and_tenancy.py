"""Authentication, tenant isolation and the basic response conventions."""

from __future__ import annotations

from tests.sandbox.conftest import Api


def test_missing_api_key_is_401_with_detail(make_api):
    response = make_api(key="").get("/agents")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or missing API key"}


def test_unknown_api_key_is_401(make_api):
    response = make_api(key="sk_not_a_real_key").get("/contacts")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or missing API key"}


def test_first_request_lists_agents_as_plain_array(api: Api):
    agents = api.ok("GET", "/agents")
    assert isinstance(agents, list)
    assert {"id", "name", "enabled"} <= set(agents[0])
    assert agents[0]["name"] == "Sales Assistant"


def test_seeded_accounts_are_announced_with_sk_keys(sandbox):
    assert len(sandbox.api_keys) >= 2
    assert all(key.startswith("sk_") for key in sandbox.api_keys)
    assert len(set(sandbox.api_keys)) == len(sandbox.api_keys)


def test_contact_of_another_tenant_is_404_by_id(make_api):
    a, b = make_api(), make_api()
    contact = a.ok("POST", "/contacts", 201, json={"first_name": "Only", "phone": "+14155550199"})
    response = b.get(f"/contacts/{contact['id']}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Lead not found"}
    assert b.patch(f"/contacts/{contact['id']}", json={"first_name": "X"}).status_code == 404
    assert b.delete(f"/contacts/{contact['id']}").status_code == 404
    assert a.get(f"/contacts/{contact['id']}").status_code == 200


def test_contact_of_another_tenant_is_absent_from_list_and_search(make_api):
    a, b = make_api(), make_api()
    contact = a.ok("POST", "/contacts", 201, json={"first_name": "Zebulon", "email": "zeb@tenant-a.test"})
    found_b = b.ok("GET", "/contacts", params={"search": "zebulon", "limit": 500})
    assert found_b == []
    ids_b = {c["id"] for c in b.ok("GET", "/contacts", params={"limit": 500})}
    assert contact["id"] not in ids_b
    assert [c["id"] for c in a.ok("GET", "/contacts", params={"search": "zebulon"})] == [contact["id"]]


def test_same_phone_may_exist_in_two_tenants(make_api):
    a, b = make_api(), make_api()
    a.ok("POST", "/contacts", 201, json={"first_name": "A", "phone": "+14155550111"})
    b.ok("POST", "/contacts", 201, json={"first_name": "B", "phone": "+14155550111"})


def test_seeded_tenants_share_no_ids(make_api):
    a, b = make_api(), make_api()
    ids_a = {c["id"] for c in a.ok("GET", "/contacts", params={"limit": 500})}
    ids_b = {c["id"] for c in b.ok("GET", "/contacts", params={"limit": 500})}
    assert len(ids_a) == 200
    assert not ids_a & ids_b


def test_wallet_of_another_tenant_is_untouched_by_sends(make_api):
    a, b = make_api(balance=10.0), make_api(balance=10.0)
    a.ok("POST", "/communication/sms", 201, json={"to": "+14155550123", "body": "hi"})
    assert a.ok("GET", "/payments/wallet")["balance"] == 9.99
    assert b.ok("GET", "/payments/wallet") == {"balance": 10.0, "currency": "USD"}


def test_timestamps_are_utc_with_explicit_offset(api: Api):
    row = api.ok("GET", "/activity/call-logs", params={"limit": 1})[0]
    assert row["created_at"].endswith("+00:00")
    contact = api.ok("POST", "/contacts", 201, json={"first_name": "T"})
    assert contact["created_at"].endswith("+00:00")
