"""Local time for quiet hours: zones from the contact or the number, windows across midnight and
DST changes, numbers spanning several zones, and numbers nobody can place."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from votel_airflow.delivery.local_time import next_opening, quiet_anywhere, recipient_zones

QUIET = (21 * 60, 8 * 60)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc)


def test_the_suites_san_francisco_numbers_are_in_los_angeles_time() -> None:
    assert [z.key for z in recipient_zones(None, "+14155550101", None)] == ["America/Los_Angeles"]


def test_the_contacts_zone_wins_over_the_numbers() -> None:
    assert [z.key for z in recipient_zones("Europe/Paris", "+14155550101", None)] == ["Europe/Paris"]


@pytest.mark.parametrize(
    ("now", "quiet"),
    [
        (utc(2026, 6, 16, 3, 59), False),  # 20:59 PDT in San Francisco: still open
        (utc(2026, 6, 16, 4, 0), True),  # 21:00 PDT: quiet begins
        (utc(2026, 6, 16, 14, 59), True),  # 07:59 PDT, the morning after (past midnight): still quiet
        (utc(2026, 6, 16, 15, 0), False),  # 08:00 PDT: open
    ],
)
def test_a_window_across_midnight_holds_on_both_sides_of_it(now: datetime, quiet: bool) -> None:
    zones = recipient_zones(None, "+14155550101", None)
    assert quiet_anywhere(QUIET, zones, now) is quiet


def test_the_window_opens_at_eight_local_on_both_sides_of_a_dst_change() -> None:
    zones = recipient_zones("America/New_York", None, None)
    # The night clocks spring forward (8 March 2026): 08:00 EDT is 12:00 UTC, the day before 13:00.
    assert next_opening(QUIET, zones, utc(2026, 3, 8, 3, 0)) == utc(2026, 3, 8, 12, 0)
    assert next_opening(QUIET, zones, utc(2026, 3, 7, 3, 0)) == utc(2026, 3, 7, 13, 0)
    # And fall back (1 November 2026): 08:00 EST is 13:00 UTC.
    assert next_opening(QUIET, zones, utc(2026, 11, 1, 4, 0)) == utc(2026, 11, 1, 13, 0)


def test_a_number_in_several_zones_is_sendable_only_while_every_zone_is_open() -> None:
    toll_free = recipient_zones(None, "+18005550100", None)
    assert len(toll_free) > 1
    # 19:00 UTC: 10:00 in Adak (its first zone) and noon in San Francisco, but 05:00 in Guam.
    evening = utc(2026, 6, 15, 19, 0)
    assert not quiet_anywhere(QUIET, toll_free[:1], evening)
    assert quiet_anywhere(QUIET, toll_free, evening)
    opening = next_opening(QUIET, toll_free, evening)
    assert opening is not None
    assert opening > evening
    assert not quiet_anywhere(QUIET, toll_free, opening)


def test_a_number_no_plan_places_has_no_zone_unless_a_default_is_named() -> None:
    assert recipient_zones(None, "+80012345678", None) == ()
    assert [z.key for z in recipient_zones(None, "+80012345678", "Europe/Berlin")] == ["Europe/Berlin"]
