"""Outbound AI calls: 402, idempotency, the status machine, outcomes, call logs."""

from __future__ import annotations

import time

import pendulum
import pytest

from tests.sandbox.conftest import Api, wait_for
from tests.support import SANDBOX_TODAY


def _agent(api: Api) -> str:
    return str(api.ok("GET", "/agents")[0]["id"])


def _start(api: Api, to: str, **kwargs) -> dict:
    return api.ok("POST", f"/agents/{_agent(api)}/calls", 201, json={"to": to}, **kwargs)


def _final(api: Api, call_id: str) -> dict:
    terminal = {"completed", "failed", "no_answer", "busy", "canceled"}
    return wait_for(lambda: (c := api.ok("GET", f"/activity/calls/{call_id}"))["status"] in terminal and c)


def test_call_start_is_201_queued_and_costs_ten_cents(api: Api):
    call = _start(api, "+14155550101")
    assert call["status"] == "queued"
    assert api.ok("GET", "/payments/wallet")["balance"] == 99.9


def test_call_moves_queued_ringing_in_progress_completed(unhurried_api: Api):
    api = unhurried_api
    call = _start(api, "+14155550101")
    seen: list[str] = []
    deadline = time.monotonic() + 30  # a bound for a broken call, far past its 3 s
    while time.monotonic() < deadline:
        status = api.ok("GET", f"/activity/calls/{call['id']}")["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "completed":
            break
        time.sleep(0.02)
    assert seen == ["queued", "ringing", "in_progress", "completed"]


@pytest.mark.parametrize(
    ("to", "status", "outcome"),
    [
        ("+14155550101", "completed", "booked"),
        ("+14155550103", "completed", "booked"),
        ("+14155550104", "completed", "callback_requested"),
        ("+14155550106", "completed", "not_interested"),
        ("+14155550107", "completed", "not_interested"),
        ("+14155550100", "no_answer", None),
        ("+14155550108", "busy", None),
        ("+14155550109", "failed", None),
    ],
)
def test_last_digit_decides_status_and_outcome(api: Api, to, status, outcome):
    final = _final(api, _start(api, to)["id"])
    assert (final["status"], final["outcome"]) == (status, outcome)
    assert (final["duration_seconds"] > 0) == (status == "completed")


def test_call_appears_in_call_logs_only_when_finished(api: Api):
    call = _start(api, "+14155550102")
    window = {"since": call["created_at"]}
    # The call is stamped by the wall clock, the seeded week by the sandbox's pinned today: on a
    # clock that stands before that week, the seeded calls are in this window too. Only the new
    # row counts.
    before = {r["id"] for r in api.ok("GET", "/activity/call-logs", params=window)}
    assert call["id"] not in before
    _final(api, call["id"])
    rows = [r for r in api.ok("GET", "/activity/call-logs", params=window) if r["id"] not in before]
    assert [r["id"] for r in rows] == [call["id"]]
    row = rows[0]
    assert row["cost"] == 0.1
    assert row["outcome"] == "booked"
    assert row["summary"]
    assert row["transcript"]
    assert row["duration_seconds"] > 0


def test_call_with_empty_wallet_is_402(sandbox, make_api):
    api = make_api(balance=0.05)
    response = api.post(f"/agents/{_agent(api)}/calls", json={"to": "+14155550101"})
    assert response.status_code == 402
    assert response.json() == {"detail": "Insufficient wallet balance"}
    assert sandbox.admin.records(api.session.headers["X-API-Key"], "call") == []


def test_call_idempotency_key_starts_one_call(sandbox, api: Api):
    first = _start(api, "+14155550101", headers={"Idempotency-Key": "call-1"})
    second = _start(api, "+14155550101", headers={"Idempotency-Key": "call-1"})
    assert first == second
    records = sandbox.admin.records(api.session.headers["X-API-Key"], "call")
    assert [r["recipient"] for r in records] == ["+14155550101"]


def test_call_to_invalid_number_is_422(api: Api):
    response = api.post(f"/agents/{_agent(api)}/calls", json={"to": "0800 123"})
    assert response.status_code == 422


def test_call_with_unknown_agent_is_404(api: Api):
    response = api.post("/agents/nope/calls", json={"to": "+14155550101"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Agent not found"}


def test_call_with_unknown_contact_is_404_lead_not_found(api: Api):
    response = api.post(f"/agents/{_agent(api)}/calls", json={"to": "+14155550101", "contact_id": "nope"})
    assert response.json() == {"detail": "Lead not found"}


def test_call_on_disabled_agent_is_400(api: Api):
    agent = _agent(api)
    api.ok("PATCH", f"/agents/{agent}", json={"enabled": False})
    response = api.post(f"/agents/{agent}/calls", json={"to": "+14155550101"})
    assert response.status_code == 400


def test_unknown_call_is_404(api: Api):
    assert api.get("/activity/calls/nope").json() == {"detail": "Call not found"}


def test_phone_report_aggregates_call_logs_per_day(api: Api):
    report = api.ok(
        "GET", "/activity/reports/phone",
        params={"since": "2024-12-02T00:00:00Z", "until": "2025-01-01T00:00:00Z"},
    )  # fmt: skip
    assert sum(row["calls"] for row in report["rows"]) == 700
    assert report["since"] == "2024-12-02T00:00:00+00:00"


def test_unknown_report_kind_is_422(api: Api):
    assert api.get("/activity/reports/radio").status_code == 422


def test_a_report_without_a_window_covers_the_30_days_ending_with_the_sandboxs_today(api: Api):
    # The sandbox's fixed today, not the wall clock: the seeded week (300 calls) is in the default.
    report = api.ok("GET", "/activity/reports/phone")
    end = SANDBOX_TODAY.add(days=1)
    assert (report["since"], report["until"]) == (end.subtract(days=30).isoformat(), end.isoformat())
    assert sum(row["calls"] for row in report["rows"]) == 300


def test_the_widget_report_has_one_row_per_day_of_the_window(api: Api):
    week = {"since": SANDBOX_TODAY.subtract(days=7).isoformat(), "until": SANDBOX_TODAY.isoformat()}
    report = api.ok("GET", "/activity/reports/widget", params=week)
    assert report["kind"] == "widget"
    assert [row["date"] for row in report["rows"]] == [
        SANDBOX_TODAY.subtract(days=n).date().isoformat() for n in range(7, 0, -1)
    ]
    assert any(row["sessions"] for row in report["rows"])
    assert all(0 <= row["leads"] <= row["sessions"] for row in report["rows"])
    # Made up, but the same for the same account and days.
    assert api.ok("GET", "/activity/reports/widget", params=week)["rows"] == report["rows"]


def test_the_workflow_report_counts_the_enrollments_made_in_the_window(api: Api):
    workflows = [w["id"] for w in api.ok("GET", "/workflows")]
    contacts = [c["id"] for c in api.ok("GET", "/contacts", params={"limit": 3})]
    api.ok("POST", f"/workflows/{workflows[0]}/enrollments", json={"contact_ids": contacts})
    # Enrollments are stamped with the wall clock (only seeded dates follow the sandbox's today).
    now = pendulum.now("UTC")
    around_now = {"since": now.subtract(hours=1).isoformat(), "until": now.add(hours=1).isoformat()}
    before = {"since": now.subtract(days=3).isoformat(), "until": now.subtract(days=2).isoformat()}

    rows = {
        r["workflow_id"]: r for r in api.ok("GET", "/activity/reports/workflow", params=around_now)["rows"]
    }
    earlier = api.ok("GET", "/activity/reports/workflow", params=before)["rows"]

    assert sorted(rows) == sorted(workflows)
    assert rows[workflows[0]]["enrolled"] == 3
    assert rows[workflows[0]]["active"] + rows[workflows[0]]["completed"] == 3
    assert all(rows[w]["enrolled"] == 0 for w in workflows[1:])
    assert [r["enrolled"] for r in earlier] == [0] * len(workflows)


def test_shortening_the_call_stage_through_the_admin_api_ends_calls_in_flight_at_once() -> None:
    from votel_airflow.sandbox.server import SandboxServer

    server = SandboxServer(call_stage_seconds=600.0).start()
    try:
        api = Api(server.base_url, server.admin.create_account())
        call = _start(api, "+14155550101")
        assert api.ok("GET", f"/activity/calls/{call['id']}")["status"] == "queued"

        server.admin.set_call_stage(0.01)

        ended = _final(api, call["id"])  # within three stages of 10 ms, not of ten minutes
        assert (ended["status"], ended["outcome"]) == ("completed", "booked")
        assert server.admin.config()["call_stage_seconds"] == 0.01
        # As the API does for a call that ended: in the call logs at once, its times in the past.
        # (The seeded week lies ahead of a clock moved back: only this call's row is looked at.)
        logged = api.ok("GET", "/activity/call-logs", params={"since": call["created_at"]})
        assert [r["id"] for r in logged if r["id"] == call["id"]] == [call["id"]]
        started, finished = (pendulum.parse(ended[k]) for k in ("started_at", "ended_at"))
        assert pendulum.parse(call["created_at"]) < started < finished <= pendulum.now("UTC")
    finally:
        server.stop()
