"""Workflows: enrollment results, idempotency, lifecycle, triggers, variables, campaigns."""

from __future__ import annotations

from tests.sandbox.conftest import Api, wait_for


def _workflow(api: Api) -> str:
    return str(api.ok("GET", "/workflows")[0]["id"])


def _contacts(api: Api, n: int) -> list[str]:
    return [c["id"] for c in api.ok("GET", "/contacts", params={"limit": n})]


def test_enroll_reports_enrolled_already_enrolled_and_not_found(api: Api):
    wf, (a, b) = _workflow(api), _contacts(api, 2)
    first = api.ok("POST", f"/workflows/{wf}/enrollments", json={"contact_ids": [a]})
    assert first == {"enrolled": [a], "already_enrolled": [], "not_found": []}
    second = api.ok("POST", f"/workflows/{wf}/enrollments", json={"contact_ids": [a, b, "ghost"]})
    assert second == {"enrolled": [b], "already_enrolled": [a], "not_found": ["ghost"]}


def test_enroll_more_than_500_is_422(api: Api):
    response = api.post(f"/workflows/{_workflow(api)}/enrollments", json={"contact_ids": ["x"] * 501})
    assert response.status_code == 422


def test_enroll_idempotency_key_returns_first_response(sandbox, api: Api):
    wf, (a,) = _workflow(api), _contacts(api, 1)
    headers = {"Idempotency-Key": "enroll-1"}
    first = api.ok("POST", f"/workflows/{wf}/enrollments", json={"contact_ids": [a]}, headers=headers)
    again = api.ok("POST", f"/workflows/{wf}/enrollments", json={"contact_ids": [a]}, headers=headers)
    assert again == first == {"enrolled": [a], "already_enrolled": [], "not_found": []}
    records = sandbox.admin.records(api.session.headers["X-API-Key"], "enrollment")
    assert [r["recipient"] for r in records] == [a]


def test_enrollment_moves_active_to_completed(api: Api):
    wf, (a,) = _workflow(api), _contacts(api, 1)
    api.ok("POST", f"/workflows/{wf}/enrollments", json={"contact_ids": [a]})
    rows = api.ok("GET", f"/workflows/{wf}/enrollments", params={"contact_id": a})
    assert rows[0]["status"] == "active"
    assert rows[0]["finished_at"] is None
    done = wait_for(lambda: api.ok("GET", f"/workflows/{wf}/enrollments", params={"status": "completed"}))
    assert done[0]["contact_id"] == a
    assert done[0]["finished_at"]


def test_unenroll_exits_an_active_enrollment(api: Api):
    wf, (a,) = _workflow(api), _contacts(api, 1)
    api.ok("POST", f"/workflows/{wf}/enrollments", json={"contact_ids": [a]})
    enrollment = api.ok("GET", f"/workflows/{wf}/enrollments")[0]
    assert api.delete(f"/workflows/{wf}/enrollments/{enrollment['id']}").status_code == 204
    after = api.ok("GET", f"/workflows/{wf}/enrollments", params={"status": "exited"})
    assert [e["id"] for e in after] == [enrollment["id"]]
    again = api.ok("POST", f"/workflows/{wf}/enrollments", json={"contact_ids": [a]})
    assert again["enrolled"] == [a]


def test_unknown_workflow_is_404(api: Api):
    response = api.get("/workflows/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Workflow not found"}
    assert api.post("/workflows/nope/enrollments", json={"contact_ids": ["x"]}).status_code == 404


def test_trigger_is_recorded(sandbox, api: Api):
    wf = _workflow(api)
    result = api.ok("POST", f"/workflows/{wf}/trigger", json={"payload": {"order": 7}})
    assert result["status"] == "accepted"
    records = sandbox.admin.records(api.session.headers["X-API-Key"], "trigger")
    assert records[0]["payload"] == {"order": 7}


def test_workflow_variables_set_and_list(api: Api):
    api.ok("PUT", "/workflow-variables/discount", json={"value": 15})
    variables = {v["name"]: v["value"] for v in api.ok("GET", "/workflow-variables")}
    assert variables["discount"] == 15
    assert "support_email" in variables
    assert api.put("/workflow-variables/bad name", json={"value": 1}).status_code == 422


def test_campaign_moves_draft_running_completed_and_starts_once(api: Api):
    campaign = api.ok("GET", "/campaigns")[0]
    assert campaign["status"] == "draft"
    started = api.ok("POST", f"/campaigns/{campaign['id']}/start")
    assert started["status"] == "running"
    assert api.post(f"/campaigns/{campaign['id']}/start").status_code == 409
    done = wait_for(
        lambda: (c := api.ok("GET", f"/campaigns/{campaign['id']}"))["status"] == "completed" and c
    )
    assert done["stats"]["sent"] == done["stats"]["recipients"]
