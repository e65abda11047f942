"""CallCompletedSensor against the sandbox: deferred inside dag.test(), poke, reschedule, fail_on."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.support import FakeTaskInstance, dagrun_task_states, make_context, run_dag, write_dag
from votel_airflow import endpoints
from votel_airflow.compat import AirflowRescheduleException, TaskDeferred
from votel_airflow.exceptions import VotelInputError, VotelNotFoundError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer
from votel_airflow.sensors.base import VotelWaitFailed
from votel_airflow.sensors.calls import CallCompletedCondition, CallCompletedSensor
from votel_airflow.triggers.condition import VotelConditionTrigger


@dataclass
class ReschedulableTaskInstance(FakeTaskInstance):
    """A first try in reschedule mode: no earlier reschedule recorded."""

    def get_first_reschedule_date(self, context: Any) -> None:
        return None


def start_call(to: str) -> str:
    """Start a call in the sandbox through the hook; its course is set by the last digit of ``to``."""
    hook = VotelHook()
    agent_id = hook.get(endpoints.AGENTS)[0]["id"]
    call = hook.request("POST", endpoints.path(endpoints.AGENT_CALLS, agent_id=agent_id), json={"to": to})
    return str(call["id"])


DAG_SOURCE = """
from datetime import timedelta
import json
import pendulum
from airflow.sdk import DAG, task
from votel_airflow.operators.agents import StartCallOperator
from votel_airflow.sensors.calls import CallCompletedSensor

with DAG("call_sensor_dag", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         default_args={"retries": 0, "retry_delay": timedelta(0)}):
    previous = None
    for name, number in (("answered", "+14155550101"), ("failing", "+14155550109")):
        start = StartCallOperator(
            task_id=f"start_{name}", agent_id="{{ dag_run.conf['agent_id'] }}", to=number
        )
        wait = CallCompletedSensor(
            task_id=f"wait_{name}", call_id="{{ ti.xcom_pull('start_%s')['id'] }}" % name,
            deferrable=True, poke_interval=0.2, timeout=60,
        )

        @task(task_id=f"keep_{name}")
        def keep(value, name=name, dag_run=None):
            with open(dag_run.conf["out"] + "/" + name + ".json", "w") as f:
                json.dump(value, f)

        # One call at a time, each started just before its sensor: it is still running when the
        # sensor looks, so the wait has to go through the trigger.
        if previous is not None:
            previous >> start
        start >> wait
        keep(wait.output)
        previous = wait
"""


@pytest.fixture(scope="module")
def slow_calls_sandbox() -> Iterator[SandboxServer]:
    """A sandbox whose calls last 6 s, so a call is still running when the next DAG task starts."""
    with SandboxServer(call_stage_seconds=2.0) as server:
        yield server


@pytest.fixture
def dag_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAG folder that dag.test() syncs: it runs only DAGs found in the configured bundle."""
    folder = tmp_path / "dags"
    bundle = {
        "name": "dags-folder",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(folder)},
    }
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
    return folder


def spy_on_trigger_events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record every event VotelConditionTrigger yields (dag.test() runs triggers in-process)."""
    events: list[dict[str, Any]] = []
    run = VotelConditionTrigger.run

    async def recording_run(self: VotelConditionTrigger) -> AsyncIterator[Any]:
        async for event in run(self):
            events.append({"condition": self.condition_kwargs, **event.payload})
            yield event

    monkeypatch.setattr(VotelConditionTrigger, "run", recording_run)
    return events


@pytest.mark.slow
def test_deferrable_sensor_in_dag_test_returns_the_ended_call(
    airflow_db: Path,
    slow_calls_sandbox: SandboxServer,
    dag_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = slow_calls_sandbox.api_keys[0]
    conn = {"conn_type": "votel", "host": slow_calls_sandbox.base_url, "password": key}
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps(conn))
    events = spy_on_trigger_events(monkeypatch)
    agent_id = VotelHook().get(endpoints.AGENTS)[0]["id"]
    write_dag(dag_folder, DAG_SOURCE)

    dagrun = run_dag(dag_folder, "call_sensor_dag", run_conf={"agent_id": agent_id, "out": str(tmp_path)})

    states = dagrun_task_states(dagrun)
    assert states["wait_answered"] == "success"
    assert states["wait_failing"] == "failed"
    assert states["keep_failing"] == "upstream_failed"
    answered = json.loads((tmp_path / "answered.json").read_text())
    by_call = {e["condition"]["call_id"]: e["status"] for e in events}
    # Both waits went through the trigger: the calls were still running when the sensors started.
    assert sorted(by_call.values()) == ["failed", "success"]
    assert by_call[answered["id"]] == "success"
    assert (answered["status"], answered["outcome"]) == ("completed", "booked")
    assert answered["duration_seconds"] > 0
    assert answered["summary"]
    assert "transcript" not in answered


ENDING_DAG_SOURCE = """
from datetime import timedelta
import json
import pendulum
from airflow.sdk import DAG, task
from votel_airflow.operators.agents import StartCallOperator
from votel_airflow.sensors.calls import CallCompletedSensor

with DAG("call_ends_in_triggerer_dag", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         default_args={"retries": 0, "retry_delay": timedelta(0)}):
    start = StartCallOperator(task_id="start", agent_id="{{ dag_run.conf['agent_id'] }}", to="+14155550101")
    wait = CallCompletedSensor(
        task_id="wait", call_id="{{ ti.xcom_pull('start')['id'] }}",
        deferrable=True, end_from_trigger=True, poke_interval=0.2, timeout=60,
    )

    @task
    def keep(value, dag_run=None):
        with open(dag_run.conf["out"] + "/ended.json", "w") as f:
            json.dump(value, f)

    start >> wait
    keep(wait.output)
"""


@pytest.mark.slow
def test_a_wait_that_ends_in_the_triggerer_returns_the_ended_call_under_dag_test(
    airflow_db: Path,
    slow_calls_sandbox: SandboxServer,
    dag_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # dag.test() (3.0 to 3.3) hands a TaskSuccessEvent back to the task, its payload the state
    # alone: the sensor looks once more for the result rather than fail or return nothing.
    key = slow_calls_sandbox.api_keys[0]
    conn = {"conn_type": "votel", "host": slow_calls_sandbox.base_url, "password": key}
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps(conn))
    ended: list[str] = []
    run = VotelConditionTrigger.run

    async def recording_run(self: VotelConditionTrigger) -> AsyncIterator[Any]:
        async for event in run(self):
            ended.append(type(event).__name__)
            yield event

    monkeypatch.setattr(VotelConditionTrigger, "run", recording_run)
    agent_id = VotelHook().get(endpoints.AGENTS)[0]["id"]
    write_dag(dag_folder, ENDING_DAG_SOURCE)

    dagrun = run_dag(
        dag_folder, "call_ends_in_triggerer_dag", run_conf={"agent_id": agent_id, "out": str(tmp_path)}
    )

    assert dagrun_task_states(dagrun) == {"start": "success", "wait": "success", "keep": "success"}
    assert ended == ["TaskSuccessEvent"]  # the wait went through the trigger, which ended it
    call = json.loads((tmp_path / "ended.json").read_text())
    assert (call["status"], call["outcome"]) == ("completed", "booked")


def test_deferrable_sensor_defers_on_the_call_condition_while_the_call_runs(
    slow_votel_connection: str,
) -> None:
    # The sensor looks once before deferring: a call of minutes is still running however late it
    # looks, where the default sandbox's 0.6 s call can end first on a loaded machine.
    call_id = start_call("+14155550104")
    sensor = CallCompletedSensor(
        task_id="wait", call_id=call_id, deferrable=True, poke_interval=2, timeout=90, fail_on=["busy"]
    )

    with pytest.raises(TaskDeferred) as info:
        sensor.execute(make_context())

    trigger = info.value.trigger
    assert isinstance(trigger, VotelConditionTrigger)
    assert trigger.condition_kwargs == {"call_id": call_id, "fail_on": ["busy"]}
    assert trigger.condition_class == "votel_airflow.conditions.calls.CallCompletedCondition"
    assert trigger.poke_interval == 2
    assert info.value.method_name == "execute_complete"


def test_deferrable_sensor_returns_at_once_when_the_call_has_already_ended(votel_connection: str) -> None:
    call_id = start_call("+14155550106")
    time.sleep(1.0)  # three 0.2 s stages in the test sandbox
    sensor = CallCompletedSensor(task_id="wait", call_id=call_id, deferrable=True)

    result = sensor.execute(make_context())

    assert (result["status"], result["outcome"]) == ("completed", "not_interested")


def test_poke_mode_waits_until_the_call_ends_and_returns_it(votel_connection: str) -> None:
    call_id = start_call("+14155550100")
    sensor = CallCompletedSensor(task_id="wait", call_id=call_id, mode="poke", poke_interval=0.1, timeout=20)

    result = sensor.execute(make_context())

    assert result["id"] == call_id
    assert (result["status"], result["outcome"], result["duration_seconds"]) == ("no_answer", None, 0)


def test_poke_mode_fails_without_retry_on_a_fail_on_status(votel_connection: str) -> None:
    call_id = start_call("+14155550108")
    sensor = CallCompletedSensor(
        task_id="wait", call_id=call_id, poke_interval=0.1, timeout=20, fail_on=["busy", "failed"]
    )

    with pytest.raises(VotelWaitFailed, match=f"call {call_id} ended busy"):
        sensor.execute(make_context())


def test_reschedule_mode_frees_the_worker_while_the_call_runs(slow_votel_connection: str) -> None:
    sensor = CallCompletedSensor(
        task_id="wait", call_id=start_call("+14155550102"), mode="reschedule", poke_interval=5, timeout=60
    )

    with pytest.raises(AirflowRescheduleException) as info:
        sensor.execute(make_context(ti=ReschedulableTaskInstance()))

    assert info.value.reschedule_date > datetime.now(timezone.utc)


def test_unknown_call_id_fails_with_not_found(votel_connection: str) -> None:
    sensor = CallCompletedSensor(task_id="wait", call_id="no-such-call", poke_interval=0.1, timeout=5)

    with pytest.raises(VotelNotFoundError, match="404"):
        sensor.execute(make_context())


def test_fail_on_refuses_a_status_that_is_not_terminal() -> None:
    with pytest.raises(VotelInputError, match="fail_on"):
        CallCompletedSensor(task_id="wait", call_id="c", fail_on=["ringing"])


def test_empty_call_id_after_rendering_fails_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(VotelHook, "request", lambda *a, **k: pytest.fail("a request was made"))
    sensor = CallCompletedSensor(task_id="wait", call_id="{{ params.call }}")
    sensor.call_id = " "

    with pytest.raises(VotelInputError, match="call_id"):
        sensor.poke(make_context())


@pytest.mark.parametrize(
    ("status", "fail_on", "done", "failed"),
    [
        ("queued", ["failed"], False, False),
        ("in_progress", ["failed"], False, False),
        ("completed", ["failed"], True, False),
        ("failed", ["failed"], True, True),
        ("canceled", ["failed"], True, False),
        ("no_answer", ["no_answer"], True, True),
        ("failed", [], True, False),
    ],
)
def test_condition_judges_terminal_statuses_and_fail_on(
    status: str, fail_on: list[str], done: bool, failed: bool
) -> None:
    call: dict[str, Any] = {"id": "c1", "status": status, "transcript": "long text"}

    verdict = CallCompletedCondition("c1", fail_on).evaluate([call])

    assert (verdict.done, verdict.failed) == (done, failed)
    if done:
        assert verdict.value["status"] == status
        assert "transcript" not in verdict.value


def test_sensor_timeout_is_the_trigger_deadline_not_the_execution_timeout(slow_votel_connection: str) -> None:
    sensor = CallCompletedSensor(
        task_id="wait", call_id=start_call("+14155550103"), deferrable=True, timeout=600,
        execution_timeout=timedelta(seconds=30),
    )  # fmt: skip
    before = time.time()

    with pytest.raises(TaskDeferred) as info:
        sensor.execute(make_context())

    deadline = info.value.trigger.deadline
    assert before + 600 <= deadline <= time.time() + 600
    assert info.value.timeout == timedelta(seconds=660)
