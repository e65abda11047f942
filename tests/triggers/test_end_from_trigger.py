"""end_from_trigger: a met condition ends the task in the triggerer; every other outcome resumes it."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support import make_context
from tests.triggers.test_condition_trigger import run_trigger, start_call
from votel_airflow.compat import TaskDeferred, TaskSuccessEvent
from votel_airflow.conditions.calls import CallCompletedCondition
from votel_airflow.sensors.calls import CallCompletedSensor
from votel_airflow.triggers.condition import VotelConditionTrigger


def ending_trigger(call_id: str, *, xcom_key: str | None = "return_value") -> VotelConditionTrigger:
    return VotelConditionTrigger.for_condition(
        CallCompletedCondition(call_id),
        votel_conn_id="votel_default",
        poke_interval=0.05,
        timeout=20,
        end_from_trigger=True,
        xcom_key=xcom_key,
    )


def events_of(trigger: VotelConditionTrigger) -> list[object]:
    """The trigger's events themselves (their class says whether the task ends in the triggerer)."""
    import asyncio

    async def collect() -> list[object]:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


def test_a_met_condition_ends_the_task_in_the_triggerer_with_its_result(votel_connection: str) -> None:
    call_id = start_call("+14155550102")

    (event,) = events_of(ending_trigger(call_id))

    assert isinstance(event, TaskSuccessEvent)
    assert event.payload == "success"
    result = event.xcoms["return_value"]
    assert (result["id"], result["status"], result["outcome"]) == (call_id, "completed", "booked")


def test_a_task_that_pushes_no_xcom_ends_without_one(votel_connection: str) -> None:
    (event,) = events_of(ending_trigger(start_call("+14155550102"), xcom_key=None))

    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms is None


def test_a_failed_condition_still_resumes_the_task_in_the_worker(votel_connection: str) -> None:
    # The worker raises VotelWaitFailed (no retries) on every minor; a TaskFailedEvent would be
    # retried on 3.3 and not on 3.0-3.2.
    call_id = start_call("+14155550109")

    events = run_trigger(ending_trigger(call_id))

    assert [e["status"] for e in events] == ["failed"]


def test_the_stored_form_of_a_trigger_that_resumes_the_task_is_unchanged() -> None:
    resuming = VotelConditionTrigger.for_condition(
        CallCompletedCondition("c1"), votel_conn_id="votel_default", poke_interval=1, timeout=None
    )
    assert "end_from_trigger" not in resuming.serialize()[1]  # what earlier releases stored

    _, kwargs = ending_trigger("c1", xcom_key=None).serialize()
    assert (kwargs["end_from_trigger"], kwargs["xcom_key"]) == (True, None)
    rebuilt = VotelConditionTrigger(**kwargs)
    assert (rebuilt.end_from_trigger, rebuilt.xcom_key) == (True, None)


@pytest.mark.parametrize(("do_xcom_push", "xcom_key"), [(True, "return_value"), (False, None)])
def test_a_sensor_with_end_from_trigger_defers_to_a_trigger_that_ends_it(
    slow_votel_connection: str, do_xcom_push: bool, xcom_key: str | None
) -> None:
    # A call of minutes, still running when the sensor first looks however loaded the machine is.
    sensor = CallCompletedSensor(
        task_id="wait",
        call_id=start_call("+14155550102"),
        deferrable=True,
        end_from_trigger=True,
        do_xcom_push=do_xcom_push,
    )

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(make_context())

    trigger = deferred.value.trigger
    assert (trigger.end_from_trigger, trigger.xcom_key) == (True, xcom_key)


def test_a_sensor_resumes_in_the_worker_by_default(slow_votel_connection: str) -> None:
    sensor = CallCompletedSensor(task_id="wait", call_id=start_call("+14155550102"), deferrable=True)

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(make_context())

    assert deferred.value.trigger.end_from_trigger is False


def test_waits_ending_together_push_their_results_side_by_side(votel_connection: str, mocker: Any) -> None:
    # A thousand waits end in one shared poll round: pushed one at a time, each waiting for the
    # supervisor's answer, the last would end half a minute after the first.
    in_flight, most = 0, 0
    changed = threading.Condition()

    def push(*args: Any, **kwargs: Any) -> None:
        # The round trip to the triggerer's supervisor, held until a second push is in flight beside
        # it: pushed one at a time they never meet, and each gives up after 5 s. Waiting on that,
        # not on a fixed time, keeps the test true on a loaded machine where the four calls end
        # rounds apart (they are started one after another).
        nonlocal in_flight, most
        with changed:
            in_flight += 1
            most = max(most, in_flight)
            changed.notify_all()
            changed.wait_for(lambda: most > 1, timeout=5)
            in_flight -= 1

    mocker.patch("airflow.sdk.execution_time.xcom.XCom.set", side_effect=push)
    triggers = []
    for n in range(4):
        trigger = ending_trigger(start_call(f"+1415555011{n}"))
        trigger.task_instance = SimpleNamespace(dag_id="d", task_id="wait", run_id="r", map_index=n)
        triggers.append(trigger)

    async def all_events() -> list[list[object]]:
        async def collect(trigger: VotelConditionTrigger) -> list[object]:
            return [event async for event in trigger.run()]

        return list(await asyncio.gather(*(collect(t) for t in triggers)))

    ended = asyncio.run(all_events())

    assert all(isinstance(e, TaskSuccessEvent) and e.xcoms is None for (e,) in ended)
    assert most > 1, "the results were pushed one at a time"
