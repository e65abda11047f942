"""Wait for an AI call to end.

The condition, shared with ``StartCallOperator``, is in :mod:`votel_airflow.conditions.calls`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from votel_airflow import compat
from votel_airflow.conditions.calls import (
    CALL_SUMMARY_FIELDS,
    DEFAULT_FAIL_ON,
    CallCompletedCondition,
    call_summary,
    require_fail_on,
)
from votel_airflow.defaults import DEFAULT_CONN_ID
from votel_airflow.sensors.base import VotelSensor
from votel_airflow.validation import (
    fail,
    require_id,
    require_start_from_trigger,
    require_triggerer_template,
)
from votel_airflow.waiting import start_in_triggerer

# CallCompletedCondition, call_summary and CALL_SUMMARY_FIELDS were defined here before they moved
# to votel_airflow.conditions.calls: deferred tasks serialized earlier name this module, so they
# stay importable from it.
__all__ = ["CALL_SUMMARY_FIELDS", "CallCompletedCondition", "CallCompletedSensor", "call_summary"]

#: The trigger a wait started by the scheduler runs (Airflow 3.3+).
CALL_START_TRIGGER = "votel_airflow.triggers.call_start.CallStartTrigger"
#: Airflow's ``[sensors] default_timeout`` default (7 days), where the setting is missing.
SENSOR_TIMEOUT_FALLBACK = 7 * 86_400.0


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
    :param start_from_trigger: Airflow 3.3+: the scheduler hands the wait straight to the
        triggerer, which renders ``call_id`` and ``votel_conn_id``; no worker starts it (implies
        ``deferrable``). Mapped over ``call_id``, the ids must come from an upstream task's
        output: ``.partial(..., start_from_trigger=True).expand(call_id=start_calls())``. See the
        guide "Deferrable mode", "Waits that start and finish in the triggerer".
    """

    template_fields: Sequence[str] = ("call_id",)

    def __init__(
        self,
        *,
        call_id: str,
        fail_on: Sequence[str] = DEFAULT_FAIL_ON,
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.call_id = call_id
        self.fail_on = require_fail_on(fail_on)
        if start_from_trigger:
            require_start_from_trigger(type(self).__name__, compat.airflow_version())
            self.deferrable = True
            self.start_from_trigger = True
            self.start_trigger_args = start_in_triggerer(
                _call_start(
                    require_triggerer_template("call_id", call_id),
                    self.votel_conn_id,
                    self.fail_on,
                    float(self.poke_interval),
                    float(self.timeout),
                    self.end_from_trigger,
                    self.do_xcom_push,
                ),
                timeout=float(self.timeout),
            )

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """``BaseOperator.partial``; with ``start_from_trigger``, each mapped wait starts in the triggerer."""
        if kwargs.get("start_from_trigger"):
            require_start_from_trigger(cls.__name__, compat.airflow_version())
        operator_partial = super().partial(**kwargs)
        if not kwargs.get("start_from_trigger"):
            return operator_partial
        started = _StartedPartial(
            operator_class=operator_partial.operator_class,
            kwargs=operator_partial.kwargs,
            params=operator_partial.params,
        )
        operator_partial._expand_called = True  # replaced, not forgotten: no "never mapped" warning
        return started

    def condition(self, context: Any) -> CallCompletedCondition:
        return CallCompletedCondition(require_id("call_id", self.call_id), self.fail_on)


def _call_start(
    call_id: str | None,
    votel_conn_id: str,
    fail_on: list[str],
    poke_interval: float,
    timeout: float,
    end_from_trigger: bool,
    do_xcom_push: bool,
    call_ids_from: list[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The started trigger's class and arguments: the sensor's fields, rendered by the triggerer."""
    kwargs: dict[str, Any] = {
        "call_id": call_id,
        "votel_conn_id": votel_conn_id,
        "fail_on": fail_on,
        "poke_interval": poke_interval,
        "timeout": timeout,
        "end_from_trigger": end_from_trigger,
        "xcom_key": "return_value" if do_xcom_push else None,
    }
    if call_ids_from is not None:
        kwargs["call_ids_from"] = call_ids_from
    return CALL_START_TRIGGER, kwargs


def _seconds(value: Any) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _mapped_call_id(call_id: Any) -> tuple[str | None, list[str] | None]:
    """Where the triggerer finds a mapped wait's call id: ``(call_id, None)`` for one id (or
    template) every wait shares, ``(None, [task_id, key])`` for the upstream output whose item the
    wait's map index picks (triggers/upstream_item.py reads it once for the waits starting together).
    """
    if isinstance(call_id, str):
        # Given to partial(): the same (templated) id for every mapped wait.
        return str(require_triggerer_template("call_id", call_id)), None
    if type(call_id).__name__ != "PlainXComArg" or type(call_id.operator).__name__ == "MappedOperator":
        raise fail(
            "call_id",
            call_id,
            "a mapped wait that starts in the triggerer can take its call ids only from the output "
            "of one unmapped upstream task (a list of ids)",
            "Expand over that output, e.g. .expand(call_id=start_calls()), or drop start_from_trigger",
        )
    return None, [str(call_id.operator.task_id), str(call_id.key)]


class _StartedPartial(compat.OperatorPartial):
    """A ``partial()`` whose ``expand()`` gives the mapped waits their ``StartTriggerArgs``."""

    def expand(self, **mapped_kwargs: Any) -> Any:
        values: Mapping[str, Any] = {**self.kwargs, **mapped_kwargs}
        # The sensor's own defaults, as its __init__ would apply them to each mapped wait.
        sensor = inspect.signature(compat.BaseSensorOperator.__init__).parameters
        timeout = _seconds(
            values.get("timeout")
            or compat.conf.getfloat("sensors", "default_timeout", fallback=SENSOR_TIMEOUT_FALLBACK)
        )
        call_id, call_ids_from = _mapped_call_id(values.get("call_id"))
        self.kwargs["start_trigger_args"] = start_in_triggerer(
            _call_start(
                call_id,
                values.get("votel_conn_id", DEFAULT_CONN_ID),
                require_fail_on(values.get("fail_on", DEFAULT_FAIL_ON)),
                _seconds(values.get("poke_interval", sensor["poke_interval"].default)),
                timeout,
                bool(values.get("end_from_trigger", False)),
                bool(values.get("do_xcom_push", True)),
                call_ids_from,
            ),
            timeout=timeout,
        )
        return super().expand(**mapped_kwargs)
