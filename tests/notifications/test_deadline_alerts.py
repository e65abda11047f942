"""Notifiers as DeadlineAlert callbacks (3.1+): run by Airflow's callback trigger, paging once a deadline.

``dag.test()`` does not evaluate deadlines on any minor (3.1 to 3.3: the scheduler's loop finds a
missed deadline and queues its callback for the triggerer), so these tests build the DAG and then
run the callback the way the triggerer does: Airflow's callback trigger, the callback's path and
kwargs, and the context the scheduler builds (the run as JSON and the deadline).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from votel_airflow import endpoints
from votel_airflow.compat import optional
from votel_airflow.exceptions import VotelInputError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.notifications import VotelCallNotifier, VotelSmsNotifier
from votel_airflow.sandbox.server import SandboxServer

HAS_DEADLINES = optional("AsyncCallback") is not None
needs_deadlines = pytest.mark.skipif(not HAS_DEADLINES, reason="DeadlineAlert arrived in Airflow 3.1")


def paged_dag() -> Any:
    """The guide's example: page by SMS when a run is not done 30 minutes after it was queued."""
    # --8<-- [start:deadline_sms]
    from airflow.sdk import DAG, task

    # In airflow.sdk itself from 3.2; this home serves 3.1 to 3.3.
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    from votel_airflow.notifications import VotelSmsNotifier

    with DAG(
        "nightly_load",
        schedule="@daily",
        deadline=DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(minutes=30),
            # Runs in the triggerer when the deadline passes; the arguments are checked here.
            callback=VotelSmsNotifier.on_deadline(
                to="+14155550190",
                body="{{ dag_run.dag_id }} {{ dag_run.run_id }} is still running 30 minutes in",
            ),
        ),
    ) as dag:

        @task
        def load() -> None: ...

        load()
    # --8<-- [end:deadline_sms]
    return dag


def _callback_trigger(path: str, kwargs: dict[str, Any]) -> Any:
    """Airflow's trigger that runs an async deadline callback in the triggerer, for this minor."""
    try:  # 3.2+
        from airflow.triggers.callback import CallbackTrigger

        return CallbackTrigger(callback_path=path, callback_kwargs=kwargs)
    except ImportError:  # 3.1
        from airflow.triggers.deadline import DeadlineCallbackTrigger

        return DeadlineCallbackTrigger(callback_path=path, callback_kwargs=kwargs)


def _deadline_context(
    deadline_id: str, run_id: str = "scheduled__2026-03-01T00:00:00+00:00"
) -> dict[str, Any]:
    # What the scheduler hands the callback (models/deadline.py, handle_miss): the run as JSON.
    return {
        "dag_run": {"dag_id": "nightly_load", "run_id": run_id, "state": "running"},
        "deadline": {"id": deadline_id, "deadline_time": "2026-03-01T00:30:00+00:00"},
    }


def _run_callback(callback: Any, context: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``callback`` as the triggerer does; return the trigger's event payloads."""
    trigger = _callback_trigger(callback.path, {**callback.kwargs, "context": context})

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def _final_state(events: list[dict[str, Any]]) -> str:
    state = events[-1]["state"]
    return str(getattr(state, "value", state))  # an enum on 3.1, its value from 3.2


@needs_deadlines
def test_a_deadline_alert_takes_the_notifier_and_stores_its_path_and_arguments() -> None:
    dag = paged_dag()

    (alert,) = dag.deadline
    assert isinstance(alert.callback, optional("AsyncCallback"))  # runs in the triggerer, not on a worker
    assert alert.callback.path == "votel_airflow.notifications.VotelSmsNotifier"
    assert alert.callback.kwargs["to"] == "+14155550190"
    # What the DAG processor stores with the DAG comes back as the same callback.
    data = alert.callback.serialize()
    assert type(alert.callback).deserialize(dict(data), 1) == alert.callback


@needs_deadlines
def test_on_deadline_checks_the_arguments_when_the_dag_is_parsed() -> None:
    with pytest.raises(VotelInputError, match="to='555'"):
        VotelSmsNotifier.on_deadline(to="555", body="late")
    with pytest.raises(VotelInputError, match="variables"):
        VotelCallNotifier.on_deadline(agent_id="a", to="+14155550190", variables=["x"])


@needs_deadlines
def test_a_missed_deadline_texts_once_even_when_the_triggerer_runs_its_callback_again(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    callback = paged_dag().deadline[0].callback
    deadline = str(uuid.uuid4())

    # A triggerer restarted mid-callback runs the same callback with the same context again.
    for _ in range(2):
        assert _final_state(_run_callback(callback, _deadline_context(deadline))) == "success"

    (sms,) = votel_sandbox.admin.records(votel_api_key, "sms")
    assert sms["recipient"] == "+14155550190"
    assert sms["body"] == "nightly_load scheduled__2026-03-01T00:00:00+00:00 is still running 30 minutes in"


@needs_deadlines
def test_each_missed_deadline_pages_on_its_own(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    callback = paged_dag().deadline[0].callback

    for run_id in ("scheduled__2026-03-01T00:00:00+00:00", "scheduled__2026-03-02T00:00:00+00:00"):
        _run_callback(callback, _deadline_context(str(uuid.uuid4()), run_id))

    assert len(votel_sandbox.admin.records(votel_api_key, "sms")) == 2


@needs_deadlines
def test_a_missed_deadline_has_an_agent_call_the_on_call_person_once(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    agent = str(VotelHook().get(endpoints.AGENTS)[0]["id"])
    callback = VotelCallNotifier.on_deadline(
        agent_id=agent, to="+14155550191", variables={"run": "{{ dag_run.run_id }}"}
    )
    deadline = str(uuid.uuid4())

    for _ in range(2):
        _run_callback(callback, _deadline_context(deadline, "manual__1"))

    (call,) = votel_sandbox.admin.records(votel_api_key, "call")
    assert (call["recipient"], call["agent_id"], call["variables"]) == (
        "+14155550191",
        agent,
        {"run": "manual__1"},
    )


@needs_deadlines
def test_a_deadline_page_that_cannot_be_sent_marks_the_callback_failed(
    votel_connection: str,
    votel_sandbox: SandboxServer,
    votel_api_key: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    votel_sandbox.admin.set_wallet(votel_api_key, 0.0)  # every send is refused with 402
    callback = paged_dag().deadline[0].callback

    events = _run_callback(callback, _deadline_context(str(uuid.uuid4())))

    # No task error to mask here: the callback's failed state is the only record of the lost page.
    assert _final_state(events) == "failed"
    # The notifier's own words, wherever this minor's logging sends them (structlog prints them).
    assert "Votel SMS was not sent: 402" in capsys.readouterr().out + caplog.text
    assert votel_sandbox.admin.records(votel_api_key, "sms") == []


@pytest.mark.skipif(HAS_DEADLINES, reason="Airflow 3.0 only: no DeadlineAlert there")
def test_on_deadline_says_it_needs_airflow_3_1_on_3_0() -> None:
    with pytest.raises(VotelInputError, match=r"needs Airflow 3\.1 or later"):
        VotelSmsNotifier.on_deadline(to="+14155550190", body="late")


@needs_deadlines
def test_a_missed_deadline_pages_at_night_but_never_a_number_that_opted_out(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.delivery.test_screening import NIGHT_IN_CALIFORNIA, B, contact
    from votel_airflow.defaults import POLICY_CLOCK_ENV

    # The deadline page is transactional as the task callback's is: quiet hours do not hold it...
    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    paged = _run_callback(paged_dag().deadline[0].callback, _deadline_context(str(uuid.uuid4())))
    assert _final_state(paged) == "success"
    # ...but an opt-out does, in the triggerer's async path too.
    contact(B, dnd=True)
    optout = VotelSmsNotifier.on_deadline(to=B, body="{{ dag_run.run_id }} is late")
    skipped = _run_callback(optout, _deadline_context(str(uuid.uuid4())))

    assert _final_state(skipped) == "success"  # a policy's skip is not a failed page
    assert [sms["recipient"] for sms in votel_sandbox.admin.records(votel_api_key, "sms")] == ["+14155550190"]
