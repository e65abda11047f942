"""The base of every Votel sensor: one condition, judged by poke or by a deferred trigger."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from votel_airflow.compat import BaseSensorOperator, PokeReturnValue, conf
from votel_airflow.exceptions import VotelWaitFailed
from votel_airflow.task_connection import DEFAULT_CONN_ID, VotelConnectionMixin
from votel_airflow.waiting import defer_until, result_from_event

__all__ = ["VotelSensor", "VotelWaitFailed", "result_from_event"]

if TYPE_CHECKING:
    from votel_airflow.conditions import Condition, Verdict


class VotelSensor(VotelConnectionMixin, BaseSensorOperator):
    """Wait for a Votel condition; with ``deferrable=True`` the wait costs a triggerer, not a worker.

    :param votel_conn_id: Airflow connection of type ``votel``. Templated, on every sensor.
    :param deferrable: hand the wait to the triggerer (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks (also the trigger's poll interval).
    :param timeout: seconds to wait before failing (the wait's own limit; the task's
        ``execution_timeout`` is separate).
    :param end_from_trigger: with ``deferrable``, a met condition ends the task in the triggerer,
        its result pushed to XCom there, without a worker slot to finish. Off by default: the
        task's own listeners (OpenLineage's COMPLETE event) do not run then. See the guide
        "Deferrable mode", "Waits that start and finish in the triggerer".
    """

    ui_color = "#f0eefd"

    def __init__(
        self,
        *,
        votel_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        end_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.votel_conn_id = votel_conn_id
        self.deferrable = deferrable
        self.end_from_trigger = end_from_trigger

    @abstractmethod
    def condition(self, context: Any) -> Condition:
        """The condition this sensor waits for (inputs validated here, before any request)."""

    def poke(self, context: Any) -> PokeReturnValue:
        verdict = self.condition(context).check(self.hook)
        self._raise_if_failed(verdict)
        if not verdict.done:
            self.log.info("Waiting: %s", verdict.message)
        return PokeReturnValue(is_done=verdict.done, xcom_value=verdict.value)

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        condition = self.condition(context)
        # One synchronous look first: an already-met condition needs no trip through the triggerer.
        verdict = condition.check(self.hook)
        self._raise_if_failed(verdict)
        if verdict.done:
            return verdict.value
        defer_until(
            self,
            condition,
            poke_interval=self.poke_interval,
            timeout=float(self.timeout),
            method_name="execute_complete",
            end_from_trigger=self.end_from_trigger,
            xcom_key="return_value" if self.do_xcom_push else None,
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | str) -> Any:
        """Turn the trigger's event into the task's result or a clear failure."""
        if isinstance(event, str):
            # The end of a task that ended in the triggerer (end_from_trigger), whose payload is the
            # state alone, handed back to the task anyway: dag.test() resumes every deferred task
            # (3.0 to 3.3). The result went with the event, so look once more: the condition is met.
            return self._look_again(context)
        return result_from_event(self.task_id, event)

    def _look_again(self, context: Any) -> Any:
        verdict = self.condition(context).check(self.hook)
        self._raise_if_failed(verdict)
        if not verdict.done:
            raise VotelWaitFailed(f"{self.task_id}: the trigger ended the wait, but {verdict.message}")
        return verdict.value

    def _raise_if_failed(self, verdict: Verdict) -> None:
        if verdict.done and verdict.failed:
            raise VotelWaitFailed(f"{self.task_id}: {verdict.message}")
