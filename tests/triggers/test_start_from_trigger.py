"""start_from_trigger: the parse-time contract, the mapped call id, and the trigger the wait starts in.

The scheduler and triggerer side (3.3 starts the wait with no worker and renders ``call_id``) is
proven on a deployment by tests/compat/test_start_in_triggerer_deployment.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest

from tests.triggers.test_condition_trigger import run_trigger, start_call
from votel_airflow import compat
from votel_airflow.compat import TaskSuccessEvent
from votel_airflow.defaults import START_FROM_TRIGGER_AIRFLOW
from votel_airflow.exceptions import VotelInputError
from votel_airflow.sensors.calls import CALL_START_TRIGGER, CallCompletedSensor
from votel_airflow.triggers.call_start import CallStartTrigger
from votel_airflow.waiting import DEFER_SLACK_SECONDS

TEMPLATED = "{{ ti.xcom_pull('start', map_indexes=-1)['id'] }}"


def _installed_minor() -> tuple[int, ...]:
    version = compat.airflow_version() or "0.0"
    return tuple(int(part) for part in version.split(".")[:2])


#: A sensor with ``start_from_trigger=True`` is refused before 3.3 (the test above proves it), so
#: what it hands the scheduler is only there to test on 3.3 (``make test``, 3.3's compat lane).
needs_33 = pytest.mark.skipif(
    _installed_minor() < START_FROM_TRIGGER_AIRFLOW, reason="start_from_trigger arrived in Airflow 3.3"
)


@pytest.mark.parametrize("version", ["3.0.6", "3.1.3", "3.2.0"])
def test_before_3_3_start_from_trigger_fails_at_parse_naming_the_version_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    monkeypatch.setattr(compat, "airflow_version", lambda: version)

    with pytest.raises(VotelInputError, match=f"Airflow 3.3 or later \\(this is Airflow {version}") as raised:
        CallCompletedSensor(task_id="wait", call_id=TEMPLATED, start_from_trigger=True)
    assert "end_from_trigger=True" in str(raised.value)
    with pytest.raises(VotelInputError, match=f"this is Airflow {version}"):
        CallCompletedSensor.partial(task_id="waits", start_from_trigger=True)


def test_without_start_from_trigger_the_scheduler_gets_nothing_to_start() -> None:
    sensor = CallCompletedSensor(task_id="wait", call_id=TEMPLATED, deferrable=True)

    assert not sensor.start_from_trigger
    assert sensor.start_trigger_args is None


@needs_33
def test_the_scheduler_starts_the_trigger_with_the_sensors_own_unrendered_fields() -> None:
    sensor = CallCompletedSensor(
        task_id="wait",
        call_id=TEMPLATED,
        votel_conn_id="{{ var.value.conn }}",
        fail_on=["busy", "failed"],
        poke_interval=7,
        timeout=600,
        start_from_trigger=True,
        end_from_trigger=True,
    )

    args = sensor.start_trigger_args
    assert sensor.start_from_trigger
    assert sensor.deferrable
    assert (args.trigger_cls, args.next_method) == (CALL_START_TRIGGER, "execute_complete")
    # The triggerer renders the kwargs that are also the sensor's template fields.
    assert set(sensor.template_fields) == {"call_id", "votel_conn_id"}
    assert args.trigger_kwargs == {
        "call_id": TEMPLATED,
        "votel_conn_id": "{{ var.value.conn }}",
        "fail_on": ["busy", "failed"],
        "poke_interval": 7.0,
        "timeout": 600.0,
        "end_from_trigger": True,
        "xcom_key": "return_value",
    }
    # Airflow's deferral timeout comes after the wait's own, whose event says what timed out.
    assert args.timeout == timedelta(seconds=600 + DEFER_SLACK_SECONDS)


@needs_33
def test_mapped_waits_start_naming_the_upstream_output_their_map_index_picks_from() -> None:
    from airflow.sdk import DAG, task

    with DAG("mapped_starts", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):

        @task
        def start_calls() -> list[str]:
            return []

        waits = CallCompletedSensor.partial(
            task_id="waits", start_from_trigger=True, end_from_trigger=True, poke_interval=5, timeout=60
        ).expand(call_id=start_calls())

    kwargs = waits.start_trigger_args.trigger_kwargs
    assert waits.start_from_trigger
    assert (kwargs["poke_interval"], kwargs["timeout"], kwargs["end_from_trigger"]) == (5.0, 60.0, True)
    # No template for the triggerer to render per wait: the trigger reads its item itself.
    assert (kwargs["call_id"], kwargs["call_ids_from"]) == (None, ["start_calls", "return_value"])
    assert CallStartTrigger(**kwargs).serialize() == (CALL_START_TRIGGER, kwargs)


@needs_33
def test_a_template_the_33_triggerer_cannot_render_fails_at_parse_with_the_fix() -> None:
    pull_all = "{{ ti.xcom_pull('start')['id'] }}"
    with pytest.raises(VotelInputError, match="map_indexes=-1"):
        CallCompletedSensor(task_id="wait", call_id=pull_all, start_from_trigger=True)
    # Deferred from a worker, the same template is rendered there, where it works.
    CallCompletedSensor(task_id="wait", call_id=pull_all, deferrable=True)


@needs_33
def test_mapped_waits_refuse_call_ids_that_are_not_an_upstream_output() -> None:
    from airflow.sdk import DAG

    with DAG("mapped_literal", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
        partial = CallCompletedSensor.partial(task_id="waits", start_from_trigger=True)
        with pytest.raises(VotelInputError, match="output of one unmapped upstream task"):
            partial.expand(call_id=["call_a", "call_b"])


def events_of(trigger: CallStartTrigger) -> list[object]:
    async def collect() -> list[object]:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


def test_the_started_trigger_ends_a_met_wait_with_the_call_as_its_result(votel_connection: str) -> None:
    call_id = start_call("+14155550102")

    (event,) = events_of(CallStartTrigger(call_id, poke_interval=0.05, timeout=20, end_from_trigger=True))

    assert isinstance(event, TaskSuccessEvent)
    result = event.xcoms["return_value"]
    assert (result["id"], result["status"], result["outcome"]) == (call_id, "completed", "booked")


def test_the_started_trigger_pushes_the_result_for_its_own_task_instance(
    votel_connection: str, mocker: Any
) -> None:
    # Through the Task SDK, as the task would: the event's own XComs reach the next task encoded
    # once more (tests/compat/test_end_in_triggerer_deployment.py).
    pushed = mocker.patch("airflow.sdk.execution_time.xcom.XCom.set")
    call_id = start_call("+14155550102")
    trigger = CallStartTrigger(call_id, poke_interval=0.05, timeout=20, end_from_trigger=True)
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="wait", run_id="r", map_index=7)

    (event,) = events_of(trigger)

    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms is None
    (call,) = pushed.call_args_list
    assert call.args[0] == "return_value"
    assert (call.args[1]["id"], call.args[1]["status"]) == (call_id, "completed")
    assert call.kwargs == {"dag_id": "d", "task_id": "wait", "run_id": "r", "map_index": 7}


def test_the_started_trigger_reports_a_fail_on_status_for_the_worker_to_fail(votel_connection: str) -> None:
    call_id = start_call("+14155550102")

    trigger = CallStartTrigger(
        call_id, fail_on=["completed"], poke_interval=0.05, timeout=20, end_from_trigger=True
    )
    (event,) = run_trigger(trigger)  # type: ignore[arg-type]

    assert (event["status"], event["value"]["id"]) == ("failed", call_id)


def test_the_started_trigger_times_out_with_the_sensors_timeout_event(votel_connection: str) -> None:
    call_id = start_call("+14155550102")

    (event,) = run_trigger(CallStartTrigger(call_id, poke_interval=0.05, timeout=0.01))  # type: ignore[arg-type]

    assert event["status"] == "timeout"


@pytest.mark.parametrize("call_id", [TEMPLATED, ""])
def test_an_unrendered_or_empty_call_id_fails_the_wait_before_any_request(call_id: str) -> None:
    (event,) = run_trigger(CallStartTrigger(call_id, votel_conn_id="no_such_connection"))  # type: ignore[arg-type]

    assert event["status"] == "error"
    assert "cannot start the wait for call" in event["message"]


def test_the_started_trigger_serializes_its_own_arguments() -> None:
    trigger = CallStartTrigger("call_a", "conn", ["busy"], 3.0, 60.0, True, None)

    path, kwargs = trigger.serialize()

    assert path == CALL_START_TRIGGER
    assert CallStartTrigger(**kwargs).serialize() == (path, kwargs)
