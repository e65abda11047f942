"""Waiting for a condition from an operator: poll in the worker, or defer to the triggerer.

Sensors and the operators that can wait for what they started (a call, a campaign, an import or
export job) share these two moves, and :func:`result_from_event` to read a deferred wait's outcome,
so a wait behaves the same wherever it happens. An operator waits through :func:`wait_for` only;
it imports it from here, not from the sensor base, so a DAG without sensors does not load
``BaseSensorOperator``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from votel_airflow.exceptions import VotelWaitFailed

if TYPE_CHECKING:
    # Only the task's run needs these: importing the trigger at DAG parse time would pull in
    # airflow.triggers.base, and the hook its HTTP clients.
    from votel_airflow.conditions import Condition, Verdict
    from votel_airflow.hooks.votel import VotelHook


#: Extra time on the deferral's own deadline, so the trigger's timeout event (with its message)
#: always arrives before Airflow's generic deferral timeout.
DEFER_SLACK_SECONDS = 60.0


class Waiter(Protocol):
    """What a task needs to wait: its hook and connection, poll interval and timeout, and a log."""

    task_id: str
    votel_conn_id: str

    @property
    def hook(self) -> VotelHook: ...

    @property
    def log(self) -> Any: ...

    def defer(self, *, trigger: Any, method_name: str, timeout: timedelta | None = None) -> NoReturn: ...


def defer_until(
    task: Waiter,
    condition: Condition,
    *,
    poke_interval: float,
    timeout: float,
    method_name: str,
    end_from_trigger: bool = False,
    xcom_key: str | None = "return_value",
) -> NoReturn:
    """Hand the wait to :class:`VotelConditionTrigger`; Airflow resumes ``method_name`` with its event.

    :param task: the waiting operator or sensor.
    :param condition: what to wait for.
    :param poke_interval: seconds between polls.
    :param timeout: seconds the wait may take.
    :param method_name: the task's method that receives the event.
    :param end_from_trigger: a met condition ends the task in the triggerer (no worker resumes it).
    :param xcom_key: where the triggerer puts the result then (None: nowhere).
    """
    from votel_airflow.triggers.condition import VotelConditionTrigger

    task.defer(
        trigger=VotelConditionTrigger.for_condition(
            condition,
            votel_conn_id=task.votel_conn_id,
            poke_interval=poke_interval,
            timeout=timeout,
            end_from_trigger=end_from_trigger,
            xcom_key=xcom_key,
        ),
        method_name=method_name,
        timeout=timedelta(seconds=float(timeout) + DEFER_SLACK_SECONDS),
    )


def start_in_triggerer(
    trigger: tuple[str, dict[str, Any]], *, timeout: float | None, method_name: str = "execute_complete"
) -> Any:
    """``StartTriggerArgs`` for a task the scheduler defers straight to the triggerer (Airflow 3.3+).

    The deferral's own timeout is the wait's plus :data:`DEFER_SLACK_SECONDS`, as in
    :func:`defer_until`, so the trigger's timeout event (``AirflowSensorTimeout``) comes first.

    :param trigger: the trigger's ``serialize()``: class path and JSON arguments.
    :param timeout: seconds the wait may take (None: no limit).
    :param method_name: the task's method a worker resumes with an event the trigger does not end.
    """
    from votel_airflow.compat import StartTriggerArgs

    return StartTriggerArgs(
        trigger_cls=trigger[0],
        trigger_kwargs=trigger[1],
        next_method=method_name,
        next_kwargs=None,
        timeout=None if timeout is None else timedelta(seconds=float(timeout) + DEFER_SLACK_SECONDS),
    )


def result_from_event(
    task_id: str, event: Mapping[str, Any], on_timeout: Callable[[Mapping[str, Any]], None] | None = None
) -> Any:
    """The value of a :class:`VotelConditionTrigger` event, or the failure it reports.

    Shared by the sensors and the deferrable operators so a deferred wait ends the same way
    everywhere: ``success`` returns the value, ``failed`` and ``error`` fail the task without
    retries, ``timeout`` raises :class:`AirflowSensorTimeout`.

    :param task_id: named in the failure message.
    :param event: the trigger's event payload.
    :param on_timeout: called with the condition's arguments (the ids waited on) before a timeout
        is raised, e.g. to cancel what the task started (``cancel_on_timeout``).
    """
    status = event.get("status")
    if status == "success":
        return event.get("value")
    if status == "failed":
        raise VotelWaitFailed(f"{task_id}: {event.get('message')}")
    if status == "timeout":
        from votel_airflow.compat import AirflowSensorTimeout

        waited_on = event.get("value")
        if on_timeout is not None and isinstance(waited_on, Mapping):
            on_timeout(waited_on)

        raise AirflowSensorTimeout(f"{task_id}: {event.get('message')}")
    raise VotelWaitFailed(f"{task_id}: the wait failed: {event.get('message')}")


def poll_until_done(
    task: Waiter,
    condition: Condition,
    *,
    poke_interval: float,
    timeout: float,
    first: Verdict | None = None,
) -> Verdict:
    """Check ``condition`` in the worker every ``poke_interval`` seconds until it is done.

    Returns the final verdict (the caller decides what a failed one means); raises
    ``AirflowSensorTimeout`` after ``timeout`` seconds, as a deferred wait's timeout event does.

    :param task: the waiting operator or sensor.
    :param condition: what to wait for.
    :param poke_interval: seconds between checks.
    :param timeout: seconds to wait in all.
    :param first: a verdict already in hand, to save the first request.
    """
    from votel_airflow.compat import AirflowSensorTimeout

    deadline = time.monotonic() + timeout
    verdict = first if first is not None else condition.check(task.hook)
    while not verdict.done:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AirflowSensorTimeout(f"{task.task_id}: not done after {timeout:g}s: {verdict.message}")
        task.log.info("Waiting: %s", verdict.message)
        time.sleep(min(poke_interval, remaining))
        verdict = condition.check(task.hook)
    return verdict


def wait_for(
    task: Waiter,
    condition: Condition,
    *,
    deferrable: bool,
    poke_interval: float,
    timeout: float,
    first: Verdict | None = None,
    method_name: str = "execute_complete",
    on_timeout: Callable[[], None] | None = None,
) -> Any:
    """Wait for what the task started: defer when ``deferrable`` (and not done yet), else poll.

    Returns the met condition's value; raises :class:`VotelWaitFailed` when it ended failed. A
    deferred task resumes in ``method_name`` with the trigger's event instead.

    :param task: the waiting operator.
    :param condition: what to wait for.
    :param deferrable: hand the wait to the triggerer.
    :param poke_interval: seconds between checks.
    :param timeout: seconds to wait in all.
    :param first: a verdict already in hand, to save the first request.
    :param method_name: the task's method that receives the trigger's event (which should pass
        its own ``on_timeout`` to :func:`result_from_event`).
    :param on_timeout: called before the wait's timeout is raised in the worker, e.g. to cancel
        what the task started (``cancel_on_timeout``).
    """
    if deferrable and not (first is not None and first.done):
        defer_until(task, condition, poke_interval=poke_interval, timeout=timeout, method_name=method_name)
    from votel_airflow.compat import AirflowSensorTimeout

    try:
        verdict = poll_until_done(task, condition, poke_interval=poke_interval, timeout=timeout, first=first)
    except AirflowSensorTimeout:
        if on_timeout is not None:
            on_timeout()
        raise
    if verdict.failed:
        raise VotelWaitFailed(f"{task.task_id}: {verdict.message}")
    return verdict.value
