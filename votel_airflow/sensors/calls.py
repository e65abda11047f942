"""Wait for an AI call to end.

The condition, shared with ``StartCallOperator``, is in :mod:`votel_airflow.conditions.calls`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from votel_airflow.conditions.calls import (
    CALL_SUMMARY_FIELDS,
    DEFAULT_FAIL_ON,
    CallCompletedCondition,
    call_summary,
    require_fail_on,
)
from votel_airflow.sensors.base import VotelSensor
from votel_airflow.validation import require_id

# CallCompletedCondition, call_summary and CALL_SUMMARY_FIELDS were defined here before they moved
# to votel_airflow.conditions.calls: deferred tasks serialized earlier name this module, so they
# stay importable from it.
__all__ = ["CALL_SUMMARY_FIELDS", "CallCompletedCondition", "CallCompletedSensor", "call_summary"]


class CallCompletedSensor(VotelSensor):
    """Wait until an AI call ends (completed, failed, no_answer, busy or canceled); return the call.

    The returned value is the call without its transcript: ``id``, ``status``, ``outcome``,
    ``duration_seconds``, ``summary``, ``started_at``, ``ended_at``... A status listed in
    ``fail_on`` fails the task without retries (a retry would see the same ended call).

    :param call_id: the call to watch, e.g. ``{{ ti.xcom_pull('start_call')['id'] }}``. Templated.
    :param fail_on: terminal statuses that fail the task (default ``["failed"]``; ``[]`` never fails).
    :param votel_conn_id: Airflow connection of type ``votel``.
    :param deferrable: hand the wait to the triggerer (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks (also the trigger's poll interval).
    :param timeout: seconds to wait before failing (separate from ``execution_timeout``).
    """

    template_fields: Sequence[str] = ("call_id",)

    def __init__(self, *, call_id: str, fail_on: Sequence[str] = DEFAULT_FAIL_ON, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.call_id = call_id
        self.fail_on = require_fail_on(fail_on)

    def condition(self, context: Any) -> CallCompletedCondition:
        return CallCompletedCondition(require_id("call_id", self.call_id), self.fail_on)
