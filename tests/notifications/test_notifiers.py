"""Notifiers: a failed task pages someone by SMS or AI call, once per task instance and event."""

from __future__ import annotations

from pathlib import Path

import pendulum
import pytest

from tests.support import dagrun_task_states, make_callback_context, run_dag, write_dag
from votel_airflow import endpoints
from votel_airflow.compat import airflow_version
from votel_airflow.exceptions import VotelInputError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.notifications import VotelCallNotifier, VotelSmsNotifier
from votel_airflow.sandbox.server import SandboxServer

DAG = """
from datetime import datetime

from airflow.sdk import DAG, task

from votel_airflow.notifications import VotelCallNotifier, VotelSmsNotifier

with DAG("paging_dag", schedule=None, start_date=datetime(2026, 1, 1)):

    @task(on_failure_callback=[
        VotelSmsNotifier(to="+14155550177", body="{{ ti.dag_id }}.{{ ti.task_id }} failed: {{ exception }}"),
        VotelCallNotifier(agent_id="__AGENT__", to="+14155550178",
                          variables={"task": "{{ ti.task_id }}", "run": "{{ run_id }}"}),
    ])
    def load_warehouse():
        raise ValueError("the warehouse is read-only")

    @task(on_success_callback=VotelSmsNotifier(to="+14155550179", body="{{ ti.task_id }} ok"))
    def fine():
        return 1

    load_warehouse()
    fine()
"""


def _agent() -> str:
    return str(VotelHook().get(endpoints.AGENTS)[0]["id"])


def test_a_failed_task_texts_and_calls_the_on_call_person_once_with_rendered_fields(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str, airflow_db: Path, dags: Path
) -> None:
    agent = _agent()
    write_dag(dags, DAG.replace("__AGENT__", agent))

    dagrun = run_dag(dags, "paging_dag")

    assert dagrun_task_states(dagrun) == {"load_warehouse": "failed", "fine": "success"}
    sms = {m["recipient"]: m for m in votel_sandbox.admin.records(votel_api_key, "sms")}
    assert sorted(sms) == ["+14155550177", "+14155550179"]
    # dag.test() on Airflow 3.0-3.2 puts no exception in a failure callback's context (a worker does).
    in_context = not (airflow_version() or "").startswith(("3.0.", "3.1.", "3.2."))
    error = "the warehouse is read-only" if in_context else "None"
    assert sms["+14155550177"]["body"] == f"paging_dag.load_warehouse failed: {error}"
    assert sms["+14155550179"]["body"] == "fine ok"
    (call,) = votel_sandbox.admin.records(votel_api_key, "call")
    assert (call["recipient"], call["agent_id"]) == ("+14155550178", agent)
    assert call["variables"]["task"] == "load_warehouse"
    assert call["variables"]["run"] == dagrun.run_id


def test_the_same_event_notified_twice_sends_one_sms(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    context = make_callback_context()
    context["ti"].state = "failed"
    for _ in range(2):  # a callback run again (a crashed callback process, a replay)
        VotelSmsNotifier(to="+14155550177", body="{{ ti.task_id }} failed")(dict(context))
    assert len(votel_sandbox.admin.records(votel_api_key, "sms")) == 1
    # Another event of the same task instance is another notification.
    context["ti"].state = "up_for_retry"
    VotelSmsNotifier(to="+14155550177", body="{{ ti.task_id }} retries")(dict(context))
    assert [m["body"] for m in votel_sandbox.admin.records(votel_api_key, "sms")] == [
        "test_task failed",
        "test_task retries",
    ]


def test_a_notifier_whose_send_fails_logs_and_never_masks_the_tasks_failure(
    votel_connection: str,
    votel_sandbox: SandboxServer,
    votel_api_key: str,
    airflow_db: Path,
    dags: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    votel_sandbox.admin.set_wallet(votel_api_key, 0.0)  # every send is refused with 402
    write_dag(dags, DAG.replace("__AGENT__", _agent()))

    dagrun = run_dag(dags, "paging_dag")

    assert dagrun_task_states(dagrun) == {"load_warehouse": "failed", "fine": "success"}
    out = capsys.readouterr().out
    assert "the warehouse is read-only" in out  # the task's own error is what is reported
    assert "Votel SMS was not sent" in out
    assert "Votel call was not sent" in out
    assert votel_sandbox.admin.records(votel_api_key, "sms") == []


def test_a_failure_page_is_sent_when_the_callback_context_holds_no_exception(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    # What dag.test() on Airflow 3.0-3.2 hands a failure callback: no "exception" key. Rendering it
    # under the DAG's StrictUndefined must not lose the page.
    context = make_callback_context()
    context["ti"].state = "failed"
    assert "exception" not in context

    VotelSmsNotifier(to="+14155550177", body="{{ ti.task_id }} failed: {{ exception }}")(context)

    assert [m["body"] for m in votel_sandbox.admin.records(votel_api_key, "sms")] == [
        "test_task failed: None"
    ]


def test_bad_static_arguments_fail_when_the_dag_is_parsed() -> None:
    with pytest.raises(VotelInputError, match="to='555'"):
        VotelSmsNotifier(to="555", body="x")
    with pytest.raises(VotelInputError, match="body"):
        VotelSmsNotifier(to="+14155550177", body=" ")
    with pytest.raises(VotelInputError, match="variables"):
        VotelCallNotifier(agent_id="a", to="+14155550177", variables=["x"])  # type: ignore[arg-type]


DAG_LEVEL = """
from datetime import datetime

from airflow.sdk import DAG, task

from votel_airflow.notifications import VotelSmsNotifier

with DAG(
    "paged_twice_dag",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    on_failure_callback=VotelSmsNotifier(to="+14155550180", body="DAG {{ dag.dag_id }} failed: {{ reason }}"),
):

    @task(on_failure_callback=VotelSmsNotifier(to="+14155550180", body="task {{ ti.task_id }} failed"))
    def load_warehouse():
        raise ValueError("the warehouse is read-only")

    load_warehouse()
"""


def test_each_failed_run_pages_once_for_the_task_and_once_for_the_dag(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str, airflow_db: Path, dags: Path
) -> None:
    # Airflow 3 hands a DAG callback the last task instance's context (or only dag, run_id and
    # reason): no key may collapse the DAG's page into the task's, nor one run's into another's.
    write_dag(dags, DAG_LEVEL)

    for day in (1, 2):
        run_dag(dags, "paged_twice_dag", logical_date=pendulum.datetime(2026, 3, day, tz="UTC"))

    bodies = [m["body"] for m in votel_sandbox.admin.records(votel_api_key, "sms")]
    assert (
        sorted(bodies)
        == ["DAG paged_twice_dag failed: task_failure"] * 2 + ["task load_warehouse failed"] * 2
    )


def test_a_dag_callback_with_only_dag_run_id_and_reason_pages_each_run(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    # The DAG processor's minimal context (the last task gone from the DAG): no ti, no dag_run.
    from airflow.sdk import DAG

    dag = DAG("nightly", schedule=None)
    for run_id in ("scheduled__2026-03-01", "scheduled__2026-03-02", "scheduled__2026-03-02"):
        # A fresh notifier each time, as each callback parses the DAG file anew (rendering is in place).
        notifier = VotelSmsNotifier(to="+14155550181", body="{{ run_id }} failed: {{ reason }}")
        notifier({"dag": dag, "run_id": run_id, "reason": "task_failure"})

    bodies = [m["body"] for m in votel_sandbox.admin.records(votel_api_key, "sms")]
    assert bodies == [
        "scheduled__2026-03-01 failed: task_failure",
        "scheduled__2026-03-02 failed: task_failure",
    ]


def test_the_dag_page_is_not_taken_for_the_page_of_its_last_task(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    # What the DAG processor builds when it knows the last task instance: that task's whole
    # context, with the run's outcome added as ``reason``.
    task_context = make_callback_context()
    task_context["ti"].state = "failed"
    dag_context = dict(task_context, reason="task_failure")

    VotelSmsNotifier(to="+14155550182", body="task failed")(dict(task_context))
    VotelSmsNotifier(to="+14155550182", body="DAG failed")(dag_context)

    bodies = [m["body"] for m in votel_sandbox.admin.records(votel_api_key, "sms")]
    assert bodies == ["task failed", "DAG failed"]
