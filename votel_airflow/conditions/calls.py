"""AI calls: the call-status vocabulary, the call's XCom summary, and the wait for a call to end.

Shared by :class:`~votel_airflow.sensors.calls.CallCompletedSensor` and
:class:`~votel_airflow.operators.agents.StartCallOperator` (``wait_for_completion``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from votel_airflow import conditions, endpoints
from votel_airflow.conditions import Condition
from votel_airflow.validation import require_subset

#: Statuses after which a call never changes again.
TERMINAL_CALL_STATUSES = frozenset({"completed", "failed", "no_answer", "busy", "canceled"})
DEFAULT_FAIL_ON: tuple[str, ...] = ("failed",)
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


def require_fail_on(value: Any) -> list[str]:
    """``fail_on`` as a sorted list of terminal statuses, refusing anything else."""
    fix = "Pass e.g. ['failed', 'busy'], or [] to never fail on the call's status."
    return require_subset("fail_on", value, TERMINAL_CALL_STATUSES, what="terminal call statuses", fix=fix)


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

    def shared_read(self) -> tuple[str, str]:
        return "call", self.call_id

    def evaluate(self, answers: list[Any]) -> conditions.Verdict:
        call = answers[0]
        status = conditions.answered_status(
            call, f"GET /activity/calls/{self.call_id}", "; expected a call object"
        )
        if status not in TERMINAL_CALL_STATUSES:
            return conditions.Verdict(done=False, message=f"call {self.call_id} is {status}")
        failed = status in self.fail_on
        outcome = f", outcome {call.get('outcome')}" if call.get("outcome") else ""
        message = f"call {self.call_id} ended {status}{outcome}"
        if failed:
            message += f" (fail_on={sorted(self.fail_on)})"
        return conditions.Verdict(done=True, failed=failed, message=message, value=call_summary(call))
