"""Calendars sensors: wait until a contact has a booking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from votel_airflow.conditions.calendars import BOOKING_STATUSES, LIVE_BOOKING_STATUSES, BookingCondition
from votel_airflow.sensors.base import VotelSensor
from votel_airflow.validation import as_str_list, fail, is_unset, parse_instant, require_choice, require_id

# BookingCondition was defined here before it moved to votel_airflow.conditions.calendars:
# deferred tasks serialized earlier name this module, so it stays importable from it.
__all__ = ["BookingCondition", "BookingSensor"]


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
        since = None if is_unset(self.since) else parse_instant("since", self.since)
        until = None if is_unset(self.until) else parse_instant("until", self.until)
        if since is not None and until is not None and until <= since:
            raise fail(
                "until", until.isoformat(), f"is not after since={since.isoformat()}", "Widen the window."
            )
        return BookingCondition(
            contact_id=require_id("contact_id", self.contact_id),
            statuses=self.statuses,
            since=None if since is None else since.isoformat(),
            until=None if until is None else until.isoformat(),
            calendar_id=None if is_unset(self.calendar_id) else require_id("calendar_id", self.calendar_id),
        )
