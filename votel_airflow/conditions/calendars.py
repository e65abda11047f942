"""Calendars: the booking-status vocabulary and the wait for a contact's booking."""

from __future__ import annotations

from typing import Any

from votel_airflow import conditions, endpoints
from votel_airflow.conditions import Condition

BOOKING_STATUSES = frozenset({"booked", "accepted", "canceled"})
#: A canceled booking is no booking: by default only live ones satisfy the wait.
LIVE_BOOKING_STATUSES = ("booked", "accepted")


class BookingCondition(Condition):
    """The contact has a booking created in ``[since, until)`` with one of ``statuses``.

    The value is the earliest such booking.

    :param contact_id: the contact.
    :param statuses: booking statuses that count.
    :param since: ISO 8601 lower bound of the booking's creation (None: unbounded).
    :param until: ISO 8601 exclusive upper bound (None: unbounded).
    :param calendar_id: only bookings of this calendar (None: any).
    """

    def __init__(
        self,
        *,
        contact_id: str,
        statuses: list[str],
        since: str | None = None,
        until: str | None = None,
        calendar_id: str | None = None,
    ) -> None:
        super().__init__(
            contact_id=contact_id, statuses=list(statuses), since=since, until=until, calendar_id=calendar_id
        )
        self.contact_id = contact_id
        self.statuses = list(statuses)
        self.since = since
        self.until = until
        self.calendar_id = calendar_id

    def fetches(self) -> list[conditions.Fetch]:
        # /bookings filters by window and status only; the contact is matched here.
        params = {"since": self.since, "until": self.until}
        if len(self.statuses) == 1:
            params["status"] = self.statuses[0]
        return [
            conditions.Fetch(
                endpoints.BOOKINGS, {k: v for k, v in params.items() if v is not None}, all_pages=True
            )
        ]

    def evaluate(self, answers: list[Any]) -> conditions.Verdict:
        for booking in answers[0] or []:
            if (
                isinstance(booking, dict)
                and booking.get("contact_id") == self.contact_id
                and booking.get("status") in self.statuses
                and (self.calendar_id is None or booking.get("calendar_id") == self.calendar_id)
            ):
                return conditions.Verdict(
                    True, message=f"contact {self.contact_id} has booking {booking.get('id')}", value=booking
                )
        return conditions.Verdict(
            False, message=f"no {'/'.join(self.statuses)} booking yet for contact {self.contact_id}"
        )
