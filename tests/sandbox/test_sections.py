"""Agents, tasks, payments, click tracking and settings: status codes and bodies."""

from __future__ import annotations

import pytest

from tests.sandbox.conftest import Api


def test_agent_create_get_update(api: Api):
    agent = api.ok("POST", "/agents", 201, json={"name": "Bot", "prompt": "Be nice"})
    assert agent["enabled"] is True
    assert api.ok("GET", f"/agents/{agent['id']}") == agent
    updated = api.ok("PATCH", f"/agents/{agent['id']}", json={"enabled": False})
    assert updated["enabled"] is False
    assert updated["name"] == "Bot"


def test_unknown_agent_is_404(api: Api):
    assert api.get("/agents/nope").json() == {"detail": "Agent not found"}


def test_agent_without_prompt_is_422(api: Api):
    assert api.post("/agents", json={"name": "Bot"}).status_code == 422


def test_agent_versions_snapshot_and_deploy(api: Api):
    agent = api.ok("GET", "/agents")[0]
    versions = api.ok("GET", f"/agents/{agent['id']}/versions")
    assert [v["number"] for v in versions] == [1, 2]
    new = api.ok("POST", f"/agents/{agent['id']}/versions", 201)
    assert new["number"] == 3
    assert new["deployed"] is False
    api.ok("POST", f"/agents/{agent['id']}/versions/{new['id']}/deploy")
    deployed = [v["id"] for v in api.ok("GET", f"/agents/{agent['id']}/versions") if v["deployed"]]
    assert deployed == [new["id"]]
    assert api.ok("GET", f"/agents/{agent['id']}")["deployed_version_id"] == new["id"]
    missing = api.post(f"/agents/{agent['id']}/versions/nope/deploy")
    assert missing.json() == {"detail": "Version not found"}


def test_knowledge_base_add_list_delete(api: Api):
    agent = api.ok("GET", "/agents")[0]["id"]
    path = f"/agents/{agent}/knowledge-base/documents"
    doc = api.ok("POST", path, 201, json={"title": "Refunds", "text": "30 days"})
    assert doc["id"] in [d["id"] for d in api.ok("GET", path)]
    assert api.delete(f"{path}/{doc['id']}").status_code == 204
    assert doc["id"] not in [d["id"] for d in api.ok("GET", path)]
    assert api.delete(f"{path}/{doc['id']}").status_code == 404


def test_knowledge_base_document_needs_exactly_one_of_text_or_url(api: Api):
    path = f"/agents/{api.ok('GET', '/agents')[0]['id']}/knowledge-base/documents"
    assert api.post(path, json={"title": "T"}).status_code == 422
    assert api.post(path, json={"title": "T", "text": "a", "url": "https://x.test"}).status_code == 422
    api.ok("POST", path, 201, json={"title": "T", "url": "https://x.test/doc"})


def test_tts_voices_listed(api: Api):
    assert len(api.ok("GET", "/tts-voices")) == 6


def test_task_create_filter_and_complete(sandbox, api: Api):
    user = api.ok("GET", "/settings/users")[0]["id"]
    task = api.ok(
        "POST", "/tasks", 201,
        json={"title": "Follow up", "assignee_id": user, "due_at": "2030-01-01T09:00:00Z"},
    )  # fmt: skip
    assert task["status"] == "open"
    assert task["due_at"] == "2030-01-01T09:00:00+00:00"
    assert [t["id"] for t in api.ok("GET", "/tasks", params={"assignee_id": user})] == [task["id"]]
    assert api.ok("GET", "/tasks", params={"due_before": "2030-01-01T09:00:00Z"}) == []
    assert api.ok("GET", "/tasks", params={"due_before": "2030-01-02T00:00:00Z"}) != []
    done = api.ok("PATCH", f"/tasks/{task['id']}", json={"status": "done"})
    assert done["status"] == "done"
    assert api.ok("GET", "/tasks", params={"status": "open"}) == []
    assert len(sandbox.admin.records(api.session.headers["X-API-Key"], "task")) == 1


def test_task_with_unknown_refs_is_404(api: Api):
    assert api.post("/tasks", json={"title": "x", "contact_id": "nope"}).json() == {
        "detail": "Lead not found"
    }
    assert api.post("/tasks", json={"title": "x", "assignee_id": "nope"}).json() == {
        "detail": "User not found"
    }
    assert api.patch("/tasks/nope", json={"status": "done"}).json() == {"detail": "Task not found"}


def test_task_with_bad_status_is_422(api: Api):
    task = api.ok("POST", "/tasks", 201, json={"title": "x"})
    assert api.patch(f"/tasks/{task['id']}", json={"status": "later"}).status_code == 422


def test_task_views_listed(api: Api):
    assert len(api.ok("GET", "/task-views")) == 3


def test_wallet_shape(make_api):
    assert make_api(balance=12.5).ok("GET", "/payments/wallet") == {"balance": 12.5, "currency": "USD"}


@pytest.mark.parametrize(
    ("path", "count"),
    [
        ("/payments/products", 3),
        ("/payments/subscriptions", 3),
        ("/settings/users", 4),
        ("/settings/sub-accounts", 2),
        ("/settings/integrations", 3),
        ("/settings/domains", 2),
        ("/tracking-links", 3),
    ],
)
def test_seeded_lists(api: Api, path, count):
    assert len(api.ok("GET", path)) == count


def test_phone_numbers_are_e164_with_capabilities(api: Api):
    import re

    numbers = api.ok("GET", "/settings/phone-numbers")
    assert numbers
    assert all(re.match(r"^\+[1-9]\d{6,14}$", n["number"]) for n in numbers)
    assert all(isinstance(n["capabilities"], list) for n in numbers)


def test_tracking_link_create_and_clicks(api: Api):
    link = api.ok(
        "POST", "/tracking-links", 201, json={"name": "Promo", "destination_url": "https://x.test/p"}
    )
    assert link["short_url"].startswith("https://")
    assert api.ok("GET", f"/tracking-links/{link['id']}/clicks") == []
    seeded = api.ok("GET", "/tracking-links")[0]
    clicks = api.ok("GET", f"/tracking-links/{seeded['id']}/clicks", params={"limit": 500})
    assert clicks
    assert all(c["link_id"] == seeded["id"] for c in clicks)
    assert api.get("/tracking-links/nope/clicks").json() == {"detail": "Tracking link not found"}


def test_tracking_link_needs_http_url(api: Api):
    response = api.post("/tracking-links", json={"name": "x", "destination_url": "ftp://x"})
    assert response.status_code == 422


def test_traffic_sources_count_clicks_and_conversions(api: Api):
    sources = api.ok("GET", "/traffic-sources")
    assert sum(s["clicks"] for s in sources) == 300
    assert sum(s["conversions"] for s in sources) == 40


def test_empty_account_lists_are_empty(make_api):
    api = make_api(seed=False)
    for path in ("/agents", "/contacts", "/activity/call-logs", "/workflows", "/conversations"):
        assert api.ok("GET", path) == [], path
