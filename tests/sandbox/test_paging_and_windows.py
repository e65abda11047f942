"""List conventions: limit/offset bounds, plain arrays, half-open windows, stable order."""

from __future__ import annotations

import pytest

from tests.sandbox.conftest import Api
from tests.support import SANDBOX_TODAY

SINCE = "2024-12-02T00:00:00+00:00"
UNTIL = "2025-01-01T00:00:00+00:00"


def test_limit_500_is_accepted(api: Api):
    rows = api.ok("GET", "/activity/call-logs", params={"limit": 500})
    assert len(rows) == 500


@pytest.mark.parametrize("limit", [0, 501, -1])
def test_limit_outside_1_to_500_is_422_detail_list(api: Api, limit):
    response = api.get("/activity/call-logs", params={"limit": limit})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail[0]["loc"] == ["query", "limit"]
    assert {"loc", "msg", "type"} <= set(detail[0])


def test_negative_offset_is_422(api: Api):
    assert api.get("/contacts", params={"offset": -1}).status_code == 422


def test_default_limit_is_50(api: Api):
    assert len(api.ok("GET", "/contacts")) == 50


def test_short_last_page_ends_paging(api: Api):
    pages = [api.ok("GET", "/contacts", params={"limit": 75, "offset": off}) for off in (0, 75, 150)]
    assert [len(p) for p in pages] == [75, 75, 50]
    assert api.ok("GET", "/contacts", params={"limit": 75, "offset": 200}) == []


def test_paging_visits_every_row_once_in_created_at_id_order(api: Api):
    rows, offset = [], 0
    while True:
        page = api.ok("GET", "/activity/call-logs", params={"limit": 137, "offset": offset})
        rows += page
        offset += len(page)
        if len(page) < 137:
            break
    assert len(rows) == 1000
    assert len({r["id"] for r in rows}) == 1000
    keys = [(r["created_at"], r["id"]) for r in rows]
    assert keys == sorted(keys)


def test_window_is_half_open(api: Api):
    rows = api.ok("GET", "/activity/call-logs", params={"limit": 500, "since": SINCE, "until": UNTIL})
    assert rows
    first = rows[0]["created_at"]
    at_first = api.ok("GET", "/activity/call-logs", params={"since": first, "until": first, "limit": 10})
    assert at_first == []
    from_first = api.ok("GET", "/activity/call-logs", params={"since": first, "limit": 1})
    assert from_first[0]["created_at"] == first
    before_first = api.ok("GET", "/activity/call-logs", params={"since": SINCE, "until": first, "limit": 500})
    assert all(r["created_at"] < first for r in before_first)
    assert all(SINCE <= r["created_at"] < UNTIL for r in rows)


def test_windows_partition_the_logs_without_overlap(api: Api):
    def window(since: str, until: str) -> list[str]:
        out, offset = [], 0
        while True:
            page = api.ok(
                "GET",
                "/activity/call-logs",
                params={"since": since, "until": until, "limit": 500, "offset": offset},
            )
            out += [r["id"] for r in page]
            offset += len(page)
            if len(page) < 500:
                return out

    middle = "2024-12-17T00:00:00+00:00"
    whole = window(SINCE, UNTIL)
    halves = window(SINCE, middle) + window(middle, UNTIL)
    assert whole == halves
    assert len(whole) == 700


def test_window_accepts_z_suffix_and_other_offsets(api: Api):
    z = api.ok("GET", "/activity/call-logs", params={"since": "2024-12-10T00:00:00Z", "limit": 5})
    offset = api.ok("GET", "/activity/call-logs", params={"since": "2024-12-10T02:00:00+02:00", "limit": 5})
    assert z == offset


def test_invalid_since_is_422(api: Api):
    response = api.get("/activity/call-logs", params={"since": "yesterday"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "since"]


def test_call_logs_filter_by_status_and_agent(api: Api):
    agent = api.ok("GET", "/agents")[0]["id"]
    busy = api.ok("GET", "/activity/call-logs", params={"status": "busy", "limit": 500})
    assert busy
    assert all(r["status"] == "busy" for r in busy)
    mine = api.ok("GET", "/activity/call-logs", params={"agent_id": agent, "limit": 500})
    assert mine
    assert all(r["agent_id"] == agent for r in mine)


@pytest.mark.parametrize(
    "path",
    [
        "/activity/meeting-logs",
        "/activity/messaging-logs",
        "/payments/transactions",
        "/conversions",
        "/bookings",
    ],
)
def test_every_log_endpoint_orders_and_windows(api: Api, path):
    rows = api.ok("GET", path, params={"since": SINCE, "until": UNTIL, "limit": 500})
    keys = [(r["created_at"], r["id"]) for r in rows]
    assert keys == sorted(keys)
    assert all(SINCE <= r["created_at"] < UNTIL for r in rows)


def test_seed_data_covers_the_days_before_the_sandboxs_today(api: Api):
    window = {"since": SANDBOX_TODAY.subtract(days=3).isoformat(), "until": SANDBOX_TODAY.isoformat()}
    assert api.ok("GET", "/activity/call-logs", params={**window, "limit": 5})
    assert api.ok("GET", "/activity/messaging-logs", params={**window, "limit": 5})


def test_seeded_data_is_deterministic_per_seed(sandbox, make_api):
    first = make_api(key=sandbox.api_keys[0]).ok("GET", "/activity/call-logs", params={"limit": 3})
    from votel_airflow.sandbox.server import SandboxServer

    with SandboxServer() as other:
        again = make_api(key=other.api_keys[0])
        again.base_url = other.base_url
        assert other.api_keys == sandbox.api_keys
        assert again.ok("GET", "/activity/call-logs", params={"limit": 3}) == first
