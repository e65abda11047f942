"""Time as the sandbox stores and prints it: ISO 8601 text in UTC with ``+00:00``.

Stored timestamps are ``datetime.isoformat()`` of an aware UTC value. Such strings sort in time
order (a whole second prints before its fractions because ``+`` sorts before ``.``), so SQLite
can filter and order them as text.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

UTC = timezone.utc
#: The fixed day the deterministic seed data leads up to.
FIXED_DATE = datetime(2025, 1, 1, tzinfo=UTC)


def now() -> float:
    """Seconds since the epoch; the one clock of every lazily computed state."""
    return time.time()


def iso(epoch: float) -> str:
    """The stored form of an epoch time."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def iso_dt(value: datetime) -> str:
    """The stored form of a datetime; a naive one is taken as UTC.

    :raises OverflowError: when the value cannot be moved to UTC (years 1 and 9999).
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def parse(text: str) -> datetime:
    """Parse a stored or client timestamp (``Z`` accepted) into an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def today_midnight(today: date | None = None) -> datetime:
    """The start of ``today`` in UTC, or of the current UTC day when it is None."""
    if today is None:
        return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return datetime(today.year, today.month, today.day, tzinfo=UTC)


def days(n: float) -> timedelta:
    """A timedelta of ``n`` days."""
    return timedelta(days=n)
