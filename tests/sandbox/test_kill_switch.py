"""The kill switch: cancel a call, pause and resume a campaign, cancel an import job; 409 once ended."""

from __future__ import annotations

import pytest

from tests.sandbox.conftest import Api, wait_for
from votel_airflow.sandbox.server import SandboxServer


@pytest.fixture
def slow(slow_votel_sandbox: SandboxServer) -> Api:
    """A tenant of the slow sandbox: nothing started here ends by itself during a test."""
    return Api(slow_votel_sandbox.base_url, slow_votel_sandbox.admin.create_account())


def _call(api: Api, to: str = "+14155550101") -> dict:
    agent = api.ok("GET", "/agents")[0]["id"]
    return api.ok("POST", f"/agents/{agent}/calls", 201, json={"to": to})


def test_cancel_ends_a_call_in_flight_as_canceled_and_logs_it(slow: Api, slow_votel_sandbox: SandboxServer):
    call = _call(slow)
    canceled = slow.ok("POST", f"/activity/calls/{call['id']}/cancel")
    assert (canceled["id"], canceled["status"], canceled["outcome"]) == (call["id"], "canceled", None)
    assert canceled["ended_at"]
    assert slow.ok("GET", f"/activity/calls/{call['id']}")["status"] == "canceled"
    logged = slow.ok("GET", "/activity/call-logs", params={"status": "canceled"})
    assert [c["id"] for c in logged] == [call["id"]]
    key = slow.session.headers["X-API-Key"]
    assert [r["id"] for r in slow_votel_sandbox.admin.records(key, "call_cancel")] == [call["id"]]


def test_cancelling_a_call_that_ended_is_409_and_changes_nothing(api: Api):
    agent = api.ok("GET", "/agents")[0]["id"]
    call = api.ok("POST", f"/agents/{agent}/calls", 201, json={"to": "+14155550104"})
    wait_for(lambda: api.ok("GET", f"/activity/calls/{call['id']}")["status"] == "completed")
    response = api.post(f"/activity/calls/{call['id']}/cancel")
    assert response.status_code == 409
    assert "already ended (completed)" in response.json()["detail"]
    assert api.ok("GET", f"/activity/calls/{call['id']}")["outcome"] == "callback_requested"


def test_cancelling_twice_is_409(slow: Api):
    call = _call(slow)
    slow.ok("POST", f"/activity/calls/{call['id']}/cancel")
    assert slow.post(f"/activity/calls/{call['id']}/cancel").status_code == 409


def test_cancelling_an_unknown_call_is_404(api: Api):
    assert api.post("/activity/calls/nope/cancel").json() == {"detail": "Call not found"}


def test_pause_stops_a_running_campaign_and_resume_carries_on(slow: Api):
    campaign = slow.ok("GET", "/campaigns")[0]["id"]
    slow.ok("POST", f"/campaigns/{campaign}/start")
    paused = slow.ok("POST", f"/campaigns/{campaign}/pause")
    assert paused["status"] == "paused"
    sent = paused["stats"]["sent"]
    assert slow.ok("GET", f"/campaigns/{campaign}")["stats"]["sent"] == sent  # nothing more is sent
    again = slow.post(f"/campaigns/{campaign}/pause")
    assert again.status_code == 409
    assert "not running (paused)" in again.json()["detail"]
    assert slow.ok("POST", f"/campaigns/{campaign}/resume")["status"] == "running"
    assert slow.post(f"/campaigns/{campaign}/resume").status_code == 409


def test_pausing_a_draft_campaign_is_409(api: Api):
    campaign = api.ok("GET", "/campaigns")[0]["id"]
    response = api.post(f"/campaigns/{campaign}/pause")
    assert response.status_code == 409
    assert "not running (draft)" in response.json()["detail"]


def test_cancel_stops_an_import_before_it_applies_any_row(slow: Api):
    rows = [{"first_name": "Kill", "phone": "+14155559001"}]
    job = slow.ok("POST", "/contacts/imports", 202, json={"contacts": rows, "match_on": "phone"})
    assert slow.ok("POST", f"/contacts/imports/{job['id']}/cancel")["status"] == "canceled"
    assert slow.ok("GET", f"/contacts/imports/{job['id']}")["status"] == "canceled"
    assert slow.ok("GET", "/contacts", params={"search": "+14155559001"}) == []
    assert slow.post(f"/contacts/imports/{job['id']}/cancel").status_code == 409


def test_cancelling_a_finished_import_is_409(api: Api):
    rows = [{"first_name": "Done", "phone": "+14155559002"}]
    job = api.ok("POST", "/contacts/imports", 202, json={"contacts": rows, "match_on": "phone"})
    wait_for(lambda: api.ok("GET", f"/contacts/imports/{job['id']}")["status"] == "completed")
    response = api.post(f"/contacts/imports/{job['id']}/cancel")
    assert response.status_code == 409
    assert "already finished (completed)" in response.json()["detail"]


def test_call_logs_filtered_on_an_in_flight_status_list_the_calls_still_going(slow: Api):
    agents = [a["id"] for a in slow.ok("GET", "/agents")]
    mine = slow.ok("POST", f"/agents/{agents[0]}/calls", 201, json={"to": "+14155550101"})
    other = slow.ok("POST", f"/agents/{agents[1]}/calls", 201, json={"to": "+14155550102"})
    ended = slow.ok("POST", f"/agents/{agents[0]}/calls", 201, json={"to": "+14155550103"})
    slow.ok("POST", f"/activity/calls/{ended['id']}/cancel")
    queued = slow.ok("GET", "/activity/call-logs", params={"status": "queued", "agent_id": agents[0]})
    assert [c["id"] for c in queued] == [mine["id"]]
    everyone = slow.ok("GET", "/activity/call-logs", params={"status": "queued"})
    assert {c["id"] for c in everyone} == {mine["id"], other["id"]}
    assert slow.ok("GET", "/activity/call-logs", params={"status": "in_progress"}) == []
