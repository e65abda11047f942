"""Calendars sensors: wait until a contact has a booking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# conditions.Fetch and .Verdict are read when a condition runs: the module loads them then, not at parse.
from votel_airflow import conditions, endpoints
from votel_airflow.conditions import Condition
from votel_airflow.sensors.base import VotelSensor
from votel_airflow.statuses import BOOKING_STATUSES
from votel_airflow.validation import as_str_list, fail, parse_instant, require_choice, require_id

#: A canceled booking is no booking: by default only live ones satisfy the wait.
LIVE_BOOKING_STATUSES = ("booked", "accepted")


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "None"))


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


class BookingSensor(VotelSensor):
    """Wait until a contact has a booking (e.g. after an AI call that booked a meeting); return it.

    The window is the booking's creation time, as ``GET /bookings`` filters it: pass
    ``since="{{ data_interval_start }}"`` to count only bookings made in the run's interval.

    :param contact_id: the contact. Templated.
    :param since: count bookings created at or after this instant (ISO 8601); default unbounded.
        Templated.
    :param until: ... and before this one; default unbounded. Templated.
    :param statuses: statuses that count (default booked and accepted: a canceled booking does not).
    :param calendar_id: only bookings of this calendar. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    :param deferrable: hand the wait to the triggerer (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks.
    :param timeout: seconds to wait before failing.
    """

    template_fields: Sequence[str] = ("contact_id", "since", "until", "calendar_id")

    def __init__(
        self,
        *,
        contact_id: Any,
        since: Any = None,
        until: Any = None,
        statuses: Sequence[str] = LIVE_BOOKING_STATUSES,
        calendar_id: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.contact_id = contact_id
        self.since = since
        self.until = until
        self.statuses = as_str_list("statuses", statuses)
        if not self.statuses:
            raise fail("statuses", statuses, "is empty", f"Use some of {sorted(BOOKING_STATUSES)}.")
        for status in self.statuses:
            require_choice("statuses", status, BOOKING_STATUSES)
        self.calendar_id = calendar_id

    def condition(self, context: Any) -> BookingCondition:
        since = None if _unset(self.since) else parse_instant("since", self.since)
        until = None if _unset(self.until) else parse_instant("until", self.until)
        if since is not None and until is not None and until <= since:
            raise fail(
                "until", until.isoformat(), f"is not after since={since.isoformat()}", "Widen the window."
            )
        return BookingCondition(
            contact_id=require_id("contact_id", self.contact_id),
            statuses=self.statuses,
            since=None if since is None else since.isoformat(),
            until=None if until is None else until.isoformat(),
            calendar_id=None if _unset(self.calendar_id) else require_id("calendar_id", self.calendar_id),
        )
