"""Status vocabularies shared by operators and sensors.

They live apart from both so that an operator validating its arguments at DAG parse time does not
import a sensor module, and with it ``BaseSensorOperator`` and the condition machinery.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from votel_airflow.validation import fail

#: Statuses after which a call never changes again.
TERMINAL_CALL_STATUSES = frozenset({"completed", "failed", "no_answer", "busy", "canceled"})
DEFAULT_FAIL_ON: tuple[str, ...] = ("failed",)
BOOKING_STATUSES = frozenset({"booked", "accepted", "canceled"})


def require_fail_on(value: Any) -> list[str]:
    """``fail_on`` as a sorted list of terminal statuses, refusing anything else."""
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, Iterable) else None
    if items is None or any(item not in TERMINAL_CALL_STATUSES for item in items):
        raise fail(
            "fail_on",
            value,
            f"must list terminal call statuses from {sorted(TERMINAL_CALL_STATUSES)}",
            "Pass e.g. ['failed', 'busy'], or [] to never fail on the call's status.",
        )
    return sorted(set(items))
