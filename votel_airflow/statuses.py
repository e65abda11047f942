"""Deprecated: the status vocabularies live with their conditions; importable from here for one release.

Call statuses are in :mod:`votel_airflow.conditions.calls`, booking statuses in
:mod:`votel_airflow.conditions.calendars`.
"""

from __future__ import annotations

from votel_airflow.conditions.calendars import BOOKING_STATUSES
from votel_airflow.conditions.calls import DEFAULT_FAIL_ON, TERMINAL_CALL_STATUSES, require_fail_on

__all__ = ["BOOKING_STATUSES", "DEFAULT_FAIL_ON", "TERMINAL_CALL_STATUSES", "require_fail_on"]
