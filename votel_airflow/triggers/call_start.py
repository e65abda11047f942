"""The trigger a call wait starts in, with no worker: ``CallCompletedSensor(start_from_trigger=True)``.

On Airflow 3.3 the scheduler defers such a task straight to the triggerer with the arguments the
DAG file fixed (``StartTriggerArgs``), and the triggerer renders, before ``run()``, only the
arguments that are also template fields of the operator. So this trigger's arguments are the
sensor's own fields (``call_id``, ``votel_conn_id``: templated, rendered by the triggerer) and
plain values, and it builds the condition itself, which :class:`VotelConditionTrigger` then runs
exactly as for a wait deferred from a worker: same shared poll, same events, same results.

Differences from a wait deferred from a worker (docs/guides/deferrable.md says the same):

* No synchronous first look: the first poll happens in the triggerer, at once.
* The wait's own deadline (``timeout``) starts when the trigger first runs, and starts again after
  a triggerer restart; Airflow's deferral timeout, set by the sensor ``DEFER_SLACK_SECONDS`` later
  than the wait's and counted from the scheduler's deferral, is the bound that holds then (it
  fails the task with Airflow's retryable deferral timeout, not ``AirflowSensorTimeout``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from votel_airflow.compat import BaseTrigger, TriggerEvent
from votel_airflow.conditions.calls import DEFAULT_FAIL_ON, CallCompletedCondition
from votel_airflow.defaults import DEFAULT_CONN_ID
from votel_airflow.exceptions import VotelMappedCallIdError
from votel_airflow.triggers.condition import RETURN_VALUE, VotelConditionTrigger, _event
from votel_airflow.triggers.upstream_item import upstream_item
from votel_airflow.validation import is_template, require_id


class CallStartTrigger(BaseTrigger):
    """Wait for a call to end, from arguments the triggerer rendered: the start of a sensor's wait.

    :param call_id: the call (rendered by the triggerer from the sensor's template); None for a
        mapped wait whose id is an item of ``call_ids_from``.
    :param votel_conn_id: Airflow connection of type ``votel`` (also rendered).
    :param fail_on: terminal statuses that fail the wait (None: ``["failed"]``).
    :param poke_interval: seconds between polls.
    :param timeout: seconds the wait may take, from the trigger's first run (None: no limit).
    :param end_from_trigger: a met wait ends the task in the triggerer.
    :param xcom_key: where its result goes then (None: nowhere).
    :param call_ids_from: ``[task_id, key]`` of the upstream output (a list of call ids) whose item
        at the wait's map index is its call.
    """

    def __init__(
        self,
        call_id: str | None,
        votel_conn_id: str = DEFAULT_CONN_ID,
        fail_on: list[str] | None = None,
        poke_interval: float = 30.0,
        timeout: float | None = None,
        end_from_trigger: bool = False,
        xcom_key: str | None = RETURN_VALUE,
        call_ids_from: list[str] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.call_id = call_id
        self.votel_conn_id = votel_conn_id
        self.fail_on = fail_on
        self.poke_interval = poke_interval
        self.timeout = timeout
        self.end_from_trigger = end_from_trigger
        self.xcom_key = xcom_key
        self.call_ids_from = call_ids_from

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {
            "call_id": self.call_id,
            "votel_conn_id": self.votel_conn_id,
            "fail_on": self.fail_on,
            "poke_interval": self.poke_interval,
            "timeout": self.timeout,
            "end_from_trigger": self.end_from_trigger,
            "xcom_key": self.xcom_key,
        }
        if self.call_ids_from is not None:
            # Only when set: the stored form of a wait with its own call id stays as it was.
            kwargs["call_ids_from"] = self.call_ids_from
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def waiting(self, call_id: Any) -> VotelConditionTrigger:
        """The wait for ``call_id``, once the triggerer has rendered ``call_id`` and ``votel_conn_id``."""
        for field, value in (("call_id", call_id), ("votel_conn_id", self.votel_conn_id)):
            if is_template(value):
                # Only Airflow 3.3+ renders a started trigger's fields; the sensor refuses older ones.
                raise ValueError(f"{field} was not rendered by the triggerer: {value!r}")
        fail_on = DEFAULT_FAIL_ON if self.fail_on is None else self.fail_on
        condition = CallCompletedCondition(require_id("call_id", call_id), fail_on)
        return VotelConditionTrigger.for_condition(
            condition,
            votel_conn_id=self.votel_conn_id,
            poke_interval=self.poke_interval,
            timeout=self.timeout,
            end_from_trigger=self.end_from_trigger,
            xcom_key=self.xcom_key,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        task_instance = getattr(self, "task_instance", None)
        call_id: Any = self.call_id
        try:
            if self.call_ids_from is not None:
                call_id = await upstream_item(task_instance, *self.call_ids_from)
            wait = self.waiting(call_id)
        except VotelMappedCallIdError as exc:
            # It names the wait, the upstream output and the fix; there is no call id to name.
            yield _event("error", str(exc))
            return
        except Exception as exc:
            # A call id that renders empty or wrong fails the task (in the worker, without retry).
            yield _event("error", f"cannot start the wait for call {call_id!r}: {exc}")
            return
        # The triggerer gave this trigger its task instance: the wait pushes the result for it.
        wait.task_instance = task_instance
        async for event in wait.run():
            yield event
