"""Calendars: free slots, bookings (409 when the slot is taken), waitlists.

Every calendar takes 30-minute slots from 09:00 to 17:00 UTC, every day, per staff member.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from votel_airflow.sandbox import clock, contacts_db
from votel_airflow.sandbox.deps import CtxDep, IdempotencyKey, PageDep, WindowDep, stamp
from votel_airflow.sandbox.idempotency import run_once
from votel_airflow.sandbox.ids import new_id
from votel_airflow.sandbox.models import BookingCreate, BookingUpdate
from votel_airflow.sandbox.responses import Json, error, invalid
from votel_airflow.sandbox.routes.listing import get_object, log_list, not_found, object_list
from votel_airflow.sandbox.store import Tx

router = APIRouter(tags=["calendars"])
SLOT = timedelta(minutes=30)
OPEN_HOUR, CLOSE_HOUR = 9, 17
MAX_SPAN = timedelta(days=31)
BookingStatus = Literal["booked", "accepted", "canceled"]


def is_slot(start: datetime) -> bool:
    return (
        start.second == 0
        and start.microsecond == 0
        and start.minute in (0, 30)
        and OPEN_HOUR <= start.hour < CLOSE_HOUR
    )


def _taken(tx: Tx, account_id: str, calendar_id: str) -> set[tuple[str, str]]:
    rows = tx.events_where(account_id, "booking", "k1 = ? AND k2 != 'canceled'", (calendar_id,))
    return {(doc["staff_id"], doc["start"]) for doc in (json.loads(row["doc"]) for row in rows)}


@router.get("/calendars")
def list_calendars(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "calendar", page)


@router.get("/calendars/{calendar_id}/availability")
def availability(
    calendar_id: str,
    ctx: CtxDep,
    page: PageDep,
    start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None,
) -> Response:
    """Free ``[{start, end, staff_id}]`` slots in ``[start, end)`` (default: the next 7 days)."""
    lo = clock.parse(stamp(start, "start") or clock.iso(clock.now()))
    end_text = stamp(end, "end")
    hi = clock.parse(end_text) if end_text else lo + timedelta(days=7)
    if hi <= lo or hi - lo > MAX_SPAN:
        raise invalid(("query", "end"), "end must be after start and at most 31 days later")
    with ctx.sandbox.store.tx() as tx:
        calendar = get_object(tx, ctx, "calendar", calendar_id, "Calendar")
        taken = _taken(tx, ctx.account_id, calendar_id)
    first = lo.replace(minute=0, second=0, microsecond=0)
    slots: list[dict[str, Any]] = []
    moment = first
    wanted = page.offset + page.limit
    while moment < hi and len(slots) < wanted:
        if moment >= lo and is_slot(moment):
            text = clock.iso_dt(moment)
            for staff in calendar["staff"]:
                if (staff["id"], text) not in taken:
                    end_text = clock.iso_dt(moment + SLOT)
                    slots.append({"start": text, "end": end_text, "staff_id": staff["id"]})
        moment += SLOT
    return Json(slots[page.offset : wanted])


@router.post("/calendars/{calendar_id}/bookings", status_code=201)
def book(
    calendar_id: str, body: BookingCreate, ctx: CtxDep, idempotency_key: IdempotencyKey = None
) -> Response:
    start_text = stamp(body.start, "start", "body") or ""

    def action(tx: Tx) -> dict[str, Any]:
        calendar = get_object(tx, ctx, "calendar", calendar_id, "Calendar")
        if contacts_db.get(tx, ctx.account_id, body.contact_id) is None:
            raise error(404, "Lead not found")
        staff_ids = [staff["id"] for staff in calendar["staff"]]
        if body.staff_id is not None and body.staff_id not in staff_ids:
            raise error(404, "Staff not found")
        if not is_slot(clock.parse(start_text)):
            raise error(400, "start is not a bookable slot (09:00-17:00 UTC, every 30 minutes)")
        taken = _taken(tx, ctx.account_id, calendar_id)
        candidates = [body.staff_id] if body.staff_id else staff_ids
        free = [staff for staff in candidates if (staff, start_text) not in taken]
        if not free:
            raise error(409, "Slot already booked")
        created = clock.iso(clock.now())
        doc = {
            "id": new_id(),
            "calendar_id": calendar_id,
            "contact_id": body.contact_id,
            "staff_id": free[0],
            "start": start_text,
            "end": clock.iso_dt(clock.parse(start_text) + SLOT),
            "status": "booked",
            "created_at": created,
        }
        tx.insert_event(
            ctx.account_id, "booking", doc["id"], created, doc, contact_id=body.contact_id,
            k1=calendar_id, k2="booked",
        )  # fmt: skip
        tx.record(
            ctx.account_id,
            "booking",
            {"id": doc["id"], "recipient": body.contact_id, "contact_id": body.contact_id,
             "body": start_text, "idempotency_key": idempotency_key, "created_at": created},
        )  # fmt: skip
        return doc

    return run_once(ctx, idempotency_key, 201, action)


@router.get("/bookings")
def list_bookings(
    ctx: CtxDep, page: PageDep, window: WindowDep, status: BookingStatus | None = None
) -> Response:
    """Bookings by creation time in ``[since, until)``."""
    return log_list(ctx, "booking", page, window, {"k2": status})


@router.patch("/bookings/{booking_id}")
def update_booking(booking_id: str, body: BookingUpdate, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        row = tx.get_event(ctx.account_id, "booking", booking_id)
        if row is None:
            not_found("Booking")
        doc = json.loads(row["doc"])
        if doc["status"] == "canceled" and body.status != "canceled":
            raise error(409, "Booking is canceled")
        doc["status"] = body.status
        tx.update_event(ctx.account_id, "booking", booking_id, doc, body.status)
    return Json(doc)


@router.get("/calendars/{calendar_id}/waitlist")
def waitlist(calendar_id: str, ctx: CtxDep, page: PageDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        get_object(tx, ctx, "calendar", calendar_id, "Calendar")
    return object_list(ctx, "waitlist", page, calendar_id)
