"""Calendars: free slots, bookings with 409 on a taken slot, booking status, waitlist."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.sandbox.conftest import Api

SLOT = (datetime.now(timezone.utc) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)


def _setup(api: Api) -> tuple[dict, str]:
    return api.ok("GET", "/calendars")[0], api.ok("GET", "/contacts", params={"limit": 1})[0]["id"]


def test_booking_is_201_and_recorded(sandbox, api: Api):
    calendar, contact = _setup(api)
    booking = api.ok(
        "POST", f"/calendars/{calendar['id']}/bookings", 201,
        json={"contact_id": contact, "start": SLOT.isoformat()},
    )  # fmt: skip
    assert booking["status"] == "booked"
    assert booking["start"] == SLOT.isoformat()
    records = sandbox.admin.records(api.session.headers["X-API-Key"], "booking")
    assert [r["recipient"] for r in records] == [contact]


def test_taken_slot_is_409_once_all_staff_are_booked(api: Api):
    calendar, contact = _setup(api)
    path = f"/calendars/{calendar['id']}/bookings"
    body = {"contact_id": contact, "start": SLOT.isoformat()}
    for _ in calendar["staff"]:
        api.ok("POST", path, 201, json=body)
    response = api.post(path, json=body)
    assert response.status_code == 409
    assert response.json() == {"detail": "Slot already booked"}


def test_same_staff_same_slot_is_409(api: Api):
    calendar, contact = _setup(api)
    path = f"/calendars/{calendar['id']}/bookings"
    body = {"contact_id": contact, "start": SLOT.isoformat(), "staff_id": calendar["staff"][0]["id"]}
    api.ok("POST", path, 201, json=body)
    assert api.post(path, json=body).status_code == 409


def test_canceling_frees_the_slot(api: Api):
    calendar, contact = _setup(api)
    path = f"/calendars/{calendar['id']}/bookings"
    body = {"contact_id": contact, "start": SLOT.isoformat(), "staff_id": calendar["staff"][0]["id"]}
    booking = api.ok("POST", path, 201, json=body)
    assert api.ok("PATCH", f"/bookings/{booking['id']}", json={"status": "canceled"})["status"] == "canceled"
    api.ok("POST", path, 201, json=body)


def test_availability_excludes_booked_slots(api: Api):
    calendar, contact = _setup(api)
    staff = calendar["staff"][0]["id"]
    params = {"start": SLOT.isoformat(), "end": (SLOT + timedelta(hours=1)).isoformat()}
    before = api.ok("GET", f"/calendars/{calendar['id']}/availability", params=params)
    assert {"start": SLOT.isoformat(), "end": (SLOT + timedelta(minutes=30)).isoformat(),
            "staff_id": staff} in before  # fmt: skip
    api.ok(
        "POST", f"/calendars/{calendar['id']}/bookings", 201,
        json={"contact_id": contact, "start": SLOT.isoformat(), "staff_id": staff},
    )  # fmt: skip
    after = api.ok("GET", f"/calendars/{calendar['id']}/availability", params=params)
    assert len(after) == len(before) - 1


def test_booking_outside_opening_hours_is_400(api: Api):
    calendar, contact = _setup(api)
    night = SLOT.replace(hour=3).isoformat()
    response = api.post(f"/calendars/{calendar['id']}/bookings", json={"contact_id": contact, "start": night})
    assert response.status_code == 400


def test_booking_unknown_contact_is_404(api: Api):
    calendar, _ = _setup(api)
    response = api.post(
        f"/calendars/{calendar['id']}/bookings", json={"contact_id": "x", "start": SLOT.isoformat()}
    )
    assert response.json() == {"detail": "Lead not found"}


def test_bookings_list_filters_by_status(api: Api):
    calendar, contact = _setup(api)
    booking = api.ok(
        "POST", f"/calendars/{calendar['id']}/bookings", 201,
        json={"contact_id": contact, "start": SLOT.isoformat()},
    )  # fmt: skip
    api.ok("PATCH", f"/bookings/{booking['id']}", json={"status": "accepted"})
    accepted = api.ok("GET", "/bookings", params={"status": "accepted"})
    assert [b["id"] for b in accepted] == [booking["id"]]
    assert api.ok("GET", "/bookings", params={"status": "canceled"}) == []


def test_waitlist_and_unknown_calendar(api: Api):
    calendar, _ = _setup(api)
    assert len(api.ok("GET", f"/calendars/{calendar['id']}/waitlist")) == 3
    assert api.get("/calendars/nope/waitlist").json() == {"detail": "Calendar not found"}
