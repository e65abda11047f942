"""A recipient's local time: their zones, whether their quiet hours hold, and when they end.

A zone comes from the contact's ``timezone``, else from the number (Google's numbering data
through ``phonenumbers``, loaded on first use: its tables are large and a DAG parse never needs
them), else from the connection's ``default_timezone``. A number that maps to several zones
(a toll-free or mobile range spanning a country) is sendable only while the window is open in
every one of them. All arithmetic is on aware datetimes with :mod:`zoneinfo`, so windows that
cross midnight and days that gain or lose an hour come out right.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

from votel_airflow.defaults import POLICY_CLOCK_ENV
from votel_airflow.validation import parse_instant

#: How many zone-by-zone steps the search for a common opening takes before it gives up: each step
#: moves to the end of some zone's quiet spell, so a handful suffice when a common opening exists.
_MAX_STEPS = 64


def policy_now() -> datetime:
    """Now, in UTC; ``VOTEL_POLICY_NOW`` (an ISO instant) fixes it, for tests and previews."""
    fixed = os.environ.get(POLICY_CLOCK_ENV)
    if fixed:
        return parse_instant(POLICY_CLOCK_ENV, fixed)
    return datetime.now(timezone.utc)


@cache
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None


@cache
def number_zones(number: str) -> tuple[str, ...]:
    """The IANA zones of a phone number; empty when the numbering data cannot place it.

    A number the plan does not recognise falls back to its country's zones (one for most countries),
    never to a guess beyond them.
    """
    import phonenumbers
    from phonenumbers import timezone as number_timezone

    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ()
    unknown = number_timezone.UNKNOWN_TIMEZONE
    zones = tuple(z for z in number_timezone.time_zones_for_number(parsed) if z != unknown)
    if not zones:
        country = number_timezone._country_level_time_zones_for_number(parsed)
        zones = tuple(z for z in country if z != unknown)
    return zones


def recipient_zones(
    contact_zone: str | None, number: str | None, default_zone: str | None
) -> tuple[ZoneInfo, ...]:
    """A recipient's zones: the contact's, else the number's, else the default; empty if unknown."""
    names: Sequence[str] = ()
    if contact_zone and _zone(contact_zone) is not None:
        names = (contact_zone,)
    elif number:
        names = number_zones(number)
    if not names and default_zone:
        names = (default_zone,)
    return tuple(zone for zone in (_zone(name) for name in names) if zone is not None)


def is_quiet(window: tuple[int, int], zone: ZoneInfo, now: datetime) -> bool:
    """Whether ``now`` falls in the quiet ``window`` (minutes after local midnight) in ``zone``."""
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    start, end = window
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def _quiet_ends(window: tuple[int, int], zone: ZoneInfo, now: datetime) -> datetime:
    """The first instant after ``now`` at which the local clock in ``zone`` reads the window's end."""
    local = now.astimezone(zone)
    hour, minute = divmod(window[1], 60)
    for days in (0, 1, 2):
        day = local.date() + timedelta(days=days)
        # Built from the wall-clock reading, so a day with a DST change still opens at the local hour.
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if candidate.astimezone(timezone.utc) > now:
            return candidate.astimezone(timezone.utc)
    raise AssertionError("a local time recurs every day")  # pragma: no cover


def quiet_anywhere(window: tuple[int, int], zones: Sequence[ZoneInfo], now: datetime) -> bool:
    """Whether any of ``zones`` is inside its quiet hours at ``now``."""
    return any(is_quiet(window, zone, now) for zone in zones)


def next_opening(window: tuple[int, int], zones: Sequence[ZoneInfo], now: datetime) -> datetime | None:
    """The first instant from ``now`` when the window is open in every zone; None if it never is."""
    moment = now.astimezone(timezone.utc)
    for _ in range(_MAX_STEPS):
        closed = [zone for zone in zones if is_quiet(window, zone, moment)]
        if not closed:
            return moment
        moment = max(_quiet_ends(window, zone, moment) for zone in closed)
    return None
