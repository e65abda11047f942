"""Wait for an AI call to end: the condition shared by the sensor and ``StartCallOperator``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# conditions.Fetch and .Verdict are read when a condition runs: the module loads them then, not at parse.
from votel_airflow import conditions, endpoints
from votel_airflow.conditions import Condition
from votel_airflow.exceptions import VotelServerError
from votel_airflow.sensors.base import VotelSensor
from votel_airflow.statuses import DEFAULT_FAIL_ON, TERMINAL_CALL_STATUSES, require_fail_on
from votel_airflow.validation import require_id

#: What a finished call reports to XCom; the transcript is left out as it can be long.
CALL_SUMMARY_FIELDS = (
    "id",
    "agent_id",
    "contact_id",
    "to",
    "status",
    "outcome",
    "duration_seconds",
    "summary",
    "started_at",
    "ended_at",
    "cost",
    "recording_url",
)


def call_summary(call: Mapping[str, Any]) -> dict[str, Any]:
    """The small, JSON-safe view of a call returned to XCom."""
    return {name: call.get(name) for name in CALL_SUMMARY_FIELDS}


class CallCompletedCondition(Condition):
    """A call reached a terminal status; it fails the wait when that status is in ``fail_on``.

    :param call_id: the call to watch.
    :param fail_on: terminal statuses that fail the task.
    """

    def __init__(self, call_id: str, fail_on: Sequence[str] = DEFAULT_FAIL_ON) -> None:
        super().__init__(call_id=call_id, fail_on=list(fail_on))
        self.call_id = call_id
        self.fail_on = frozenset(fail_on)

    def fetches(self) -> list[conditions.Fetch]:
        return [conditions.Fetch(endpoints.path(endpoints.CALL, call_id=self.call_id))]

    def evaluate(self, answers: list[Any]) -> conditions.Verdict:
        call = answers[0]
        status = call.get("status") if isinstance(call, Mapping) else None
        if not isinstance(status, str):
            raise VotelServerError(
                f"GET /activity/calls/{self.call_id} answered without a status; expected a call object"
            )
        if status not in TERMINAL_CALL_STATUSES:
            return conditions.Verdict(done=False, message=f"call {self.call_id} is {status}")
        failed = status in self.fail_on
        outcome = f", outcome {call.get('outcome')}" if call.get("outcome") else ""
        message = f"call {self.call_id} ended {status}{outcome}"
        if failed:
            message += f" (fail_on={sorted(self.fail_on)})"
        return conditions.Verdict(done=True, failed=failed, message=message, value=call_summary(call))


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
