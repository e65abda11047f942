"""Calendars: book a slot (or the next free one), accept or cancel bookings, extract bookings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pendulum

from votel_airflow import endpoints
from votel_airflow.conditions.calendars import BOOKING_STATUSES
from votel_airflow.delivery.idempotency import TaskProgress, idempotency_key
from votel_airflow.earlier_creations import find_created, run_started_after
from votel_airflow.exceptions import SlotTakenError as SlotTakenError  # old home, kept one release
from votel_airflow.exceptions import VotelBadRequestError, VotelInputError, VotelSlotTakenError, render_detail
from votel_airflow.links import VotelObjectLink, record_link
from votel_airflow.names import require_one, resolve
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.operators.extract import VotelExtractOperator
from votel_airflow.validation import (
    is_template,
    is_unset,
    parse_instant,
    require_choice,
    require_id,
    require_int,
)

ON_CONFLICT = ("fail", "next_free")
BOOKING_UPDATES = ("accepted", "canceled")
#: The availability endpoint answers at most 31 days at a time.
MAX_SEARCH_DAYS = 31
#: Slots tried with ``on_conflict="next_free"`` before giving up (each may be taken meanwhile).
MAX_BOOKING_ATTEMPTS = 5
PROGRESS_NAME = "booking"


def _slot(booking: Mapping[str, Any]) -> pendulum.DateTime:
    """A booking's start; a far-past instant when it has none readable (matches no request)."""
    try:
        return parse_instant("start", booking.get("start"))
    except VotelInputError:
        return pendulum.datetime(1970, 1, 1, tz="UTC")


class CreateBookingOperator(VotelBaseOperator):
    """Book a calendar slot for a contact, or the next free one; return the booking.

    The booking is made exactly once per task instance: it is recorded in the task state store,
    and, as the API takes no ``Idempotency-Key`` on bookings, a try first looks for a booking of
    this calendar and contact made since the run began (an answer lost after the slot was booked,
    or a retry on Airflow 3.0 to 3.2), so a retry returns the booking the previous try made
    instead of booking a second slot.

    :param calendar_id: the calendar (booking page). Templated. Give this or ``calendar_name``.
    :param calendar_name: the calendar's name instead of its id, resolved when the task runs.
        Templated.
    :param contact_id: who the booking is for. Templated.
    :param start: the slot's start, ISO 8601 (e.g. ``2026-11-03T10:00:00Z``). Templated.
    :param staff_id: book with this staff member (default: whoever is free). Templated.
    :param on_conflict: when the slot is taken (409): ``"fail"`` fails the task naming the slot;
        ``"next_free"`` books the first free slot after ``start`` from the calendar's availability.
    :param search_days: how far after ``start`` ``"next_free"`` looks, 1 to 31 days.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("calendar_id", "calendar_name", "contact_id", "start", "staff_id")
    operator_extra_links = (VotelObjectLink(),)

    def __init__(
        self,
        *,
        calendar_id: Any = None,
        calendar_name: Any = None,
        contact_id: Any,
        start: Any,
        staff_id: Any = None,
        on_conflict: str = "fail",
        search_days: int = 7,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require_one("calendar", calendar_id, calendar_name)
        self.calendar_id = calendar_id
        self.calendar_name = calendar_name
        self.contact_id = contact_id
        self.start = start
        self.staff_id = staff_id
        self.on_conflict = require_choice("on_conflict", on_conflict, ON_CONFLICT)
        self.search_days = require_int("search_days", search_days, low=1, high=MAX_SEARCH_DAYS)
        if isinstance(start, str) and not is_template(start):
            parse_instant("start", start)

    def execute(self, context: Any) -> dict[str, Any]:
        contact_id = require_id("contact_id", self.contact_id)
        start = parse_instant("start", self.start)
        staff_id = None if is_unset(self.staff_id) else require_id("staff_id", self.staff_id)
        calendar_id = resolve(self.hook, "calendar", self.calendar_id, self.calendar_name)
        progress = TaskProgress(context, PROGRESS_NAME)
        previous = progress.done().get(PROGRESS_NAME)
        if isinstance(previous, dict):
            self.log.info("Booking %s was made by a previous try; not booking again", previous.get("id"))
            return previous
        earlier = self._booked_earlier(context, calendar_id, contact_id, staff_id, start)
        if earlier is not None:
            progress.record(PROGRESS_NAME, earlier)
            progress.flush()
            record_link(context, self.hook.settings.base_url, "booking", str(earlier["id"]))
            return earlier
        path = endpoints.path(endpoints.CALENDAR_BOOKINGS, calendar_id=calendar_id)
        slot = start
        for _ in range(MAX_BOOKING_ATTEMPTS):
            body: dict[str, Any] = {"contact_id": contact_id, "start": slot.isoformat()}
            if staff_id is not None:
                body["staff_id"] = staff_id
            try:
                # No Idempotency-Key: the API promises none on bookings, and with one the hook
                # would retry a POST whose 5xx came after the slot was booked, meeting a 409 on our
                # own booking (and, with "next_free", booking a second slot). A lost answer is found
                # by the next try instead (_booked_earlier).
                booking = self.hook.request("POST", path, json=body)
            except VotelBadRequestError as exc:
                if exc.status_code != 409:
                    raise
                if self.on_conflict == "fail":
                    raise self._taken(calendar_id, slot, staff_id, exc) from None
                found = self._next_free(calendar_id, slot, start + timedelta(days=self.search_days), staff_id)
                if found is None:
                    raise self._taken(calendar_id, slot, staff_id, exc, searched=True) from None
                self.log.info(
                    "Slot %s is taken; trying the next free slot %s", slot.isoformat(), found.isoformat()
                )
                slot = found
                continue
            progress.record(PROGRESS_NAME, booking)
            progress.flush()
            record_link(context, self.hook.settings.base_url, "booking", str(booking["id"]))
            return dict(booking)
        raise VotelSlotTakenError(
            f"calendar_id={calendar_id!r}: {MAX_BOOKING_ATTEMPTS} free slots after {start.isoformat()} were "
            "taken before they could be booked; retry later or choose another start.",
            status_code=409,
        )

    def _booked_earlier(
        self, context: Any, calendar_id: str, contact_id: str, staff_id: str | None, start: pendulum.DateTime
    ) -> dict[str, Any] | None:
        """The booking an earlier try made since the run began: this calendar and contact, a slot
        this task could have booked (``start``, or with ``"next_free"`` one up to ``search_days``
        later)."""
        since = run_started_after(context)
        if since is None:
            return None
        last = start + timedelta(days=self.search_days) if self.on_conflict == "next_free" else start
        window = {"since": since.isoformat(), "until": pendulum.now("UTC").add(minutes=1).isoformat()}
        wanted: dict[str, Any] = {"calendar_id": calendar_id, "contact_id": contact_id}
        if staff_id is not None:
            wanted["staff_id"] = staff_id
        candidates = [
            booking
            for booking in self.hook.paginate(endpoints.BOOKINGS, params=window)
            if booking.get("status") != "canceled" and start <= _slot(booking) <= last
        ]
        found = find_created(candidates, wanted, since)
        if found is None:
            return None
        self.log.info("Booking %s was made by a previous try of this task; not booking again", found["id"])
        return dict(found)

    def _next_free(
        self, calendar_id: str, after: pendulum.DateTime, end: pendulum.DateTime, staff_id: str | None
    ) -> pendulum.DateTime | None:
        if after >= end:
            return None
        path = endpoints.path(endpoints.CALENDAR_AVAILABILITY, calendar_id=calendar_id)
        params = {"start": after.isoformat(), "end": end.isoformat()}
        for free in self.hook.paginate(path, params=params, page_size=100):
            if staff_id is None or free.get("staff_id") == staff_id:
                return parse_instant("availability.start", free["start"])
        return None

    def _taken(
        self,
        calendar_id: str,
        slot: pendulum.DateTime,
        staff_id: str | None,
        exc: VotelBadRequestError,
        *,
        searched: bool = False,
    ) -> VotelSlotTakenError:
        who = f" with staff_id={staff_id!r}" if staff_id else ""
        if searched:
            fix = f"No free slot{who} within {self.search_days} day(s): raise search_days or move start."
        else:
            fix = "Choose another start, or pass on_conflict='next_free' to book the next free slot."
        return VotelSlotTakenError(
            f"calendar_id={calendar_id!r}: the slot {slot.isoformat()}{who} is taken "
            f"({render_detail(exc.detail)}). {fix}",
            status_code=409,
            detail=exc.detail,
        )


class UpdateBookingOperator(VotelBaseOperator):
    """Accept or cancel a booking; return the updated booking.

    :param booking_id: the booking. Templated.
    :param status: ``"accepted"`` or ``"canceled"``. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("booking_id", "status")
    operator_extra_links = (VotelObjectLink(),)

    def __init__(self, *, booking_id: Any, status: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.booking_id = booking_id
        self.status = status
        if isinstance(status, str) and not is_template(status):
            require_choice("status", status, BOOKING_UPDATES)

    def execute(self, context: Any) -> dict[str, Any]:
        booking_id = require_id("booking_id", self.booking_id)
        status = require_choice("status", self.status, BOOKING_UPDATES)
        path = endpoints.path(endpoints.BOOKING, booking_id=booking_id)
        # Setting a status twice is harmless: the key only lets the hook retry the PATCH.
        key = idempotency_key(context, "booking-status", booking_id, status)
        booking = self.hook.request("PATCH", path, json={"status": status}, idempotency_key=key)
        record_link(context, self.hook.settings.base_url, "booking", booking_id)
        return dict(booking)


class BookingExtractOperator(VotelExtractOperator):
    """Stream the bookings created in ``[since, until)`` to a file and return a manifest.

    Rows come ordered by ``(created_at, id)``: a rerun of the same window writes the same rows.
    Returns ``{"uri", "records", "since", "until", "format"}``.

    :param destination: file to write: an absolute local path or any URL ``ObjectStoragePath``
        accepts. Templated. A static destination is declared as an Asset.
    :param since: window start (inclusive), ISO 8601 or datetime; default the data interval start.
        Templated.
    :param until: window end (exclusive); default the data interval end. Templated.
    :param filters: ``status`` (booked, accepted, canceled). Templated.
    :param format: ``jsonl``, ``jsonl.gz`` or ``parquet`` (needs the ``parquet`` extra).
    :param page_size: records per request, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    endpoint = endpoints.BOOKINGS
    filter_names = frozenset({"status"})
    filter_choices = {"status": BOOKING_STATUSES}
