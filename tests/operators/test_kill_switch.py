"""The kill switch through the operators: on_kill, cancel_on_timeout, and the stop operators.

Calls, campaigns and import jobs here run on ``slow_votel_sandbox`` (minutes per stage), so what
the test stops is still going when it stops it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import FakeStateStore, dagrun_task_states, make_context, run_dag, write_dag
from votel_airflow import endpoints
from votel_airflow.compat import AirflowSensorTimeout
from votel_airflow.exceptions import VotelInputError, VotelInterruptedError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.activity import CancelCallOperator
from votel_airflow.operators.agents import StartCallOperator
from votel_airflow.operators.contact_imports import UpsertContactsOperator
from votel_airflow.operators.workflows import (
    PauseCampaignOperator,
    ResumeCampaignOperator,
    StartCampaignOperator,
)
from votel_airflow.sandbox.server import SandboxServer


def _agent() -> str:
    return str(VotelHook().get(endpoints.AGENTS)[0]["id"])


def _campaign() -> str:
    return str(VotelHook().get(endpoints.CAMPAIGNS)[0]["id"])


def _call_status(call_id: str) -> str:
    return str(VotelHook().get(endpoints.path(endpoints.CALL, call_id=call_id))["status"])


def _campaign_status(campaign_id: str) -> str:
    return str(VotelHook().get(endpoints.path(endpoints.CAMPAIGN, campaign_id=campaign_id))["status"])


def _killed_while_on_the_wire(monkeypatch: pytest.MonkeyPatch, operator: Any, path_ends: str) -> list[str]:
    """Run ``operator.on_kill()`` once the server has answered the first POST to a path ending in
    ``path_ends`` and before the operator reads the answer: where Airflow's SIGTERM handler runs
    when the signal comes while that request is on the wire (it runs between the task's bytecodes,
    and the answer is read after it returns). Returns the paths of those POSTs, as they are sent."""
    hook = operator.hook
    send = hook._send
    posted: list[str] = []

    def send_then_kill(call: Any, *args: Any, **kwargs: Any) -> Any:
        answer = send(call, *args, **kwargs)
        if call.method == "POST" and call.path.endswith(path_ends):
            posted.append(call.path)
            if len(posted) == 1:
                operator.on_kill()
        return answer

    monkeypatch.setattr(hook, "_send", send_then_kill)
    return posted


def test_on_kill_cancels_the_call_the_task_started(slow_votel_connection: str) -> None:
    operator = StartCallOperator(task_id="call", agent_id=_agent(), to="+14155550101")
    call = operator.execute(make_context())
    assert _call_status(call["id"]) == "queued"

    operator.on_kill()

    assert _call_status(call["id"]) == "canceled"


def test_a_kill_while_the_calls_start_request_is_on_the_wire_cancels_the_call_it_answers_with(
    slow_votel_connection: str,
    slow_votel_sandbox: SandboxServer,
    slow_votel_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    operator = StartCallOperator(task_id="call", agent_id=_agent(), to="+14155550101")
    _killed_while_on_the_wire(monkeypatch, operator, "/calls")

    with pytest.raises(VotelInterruptedError, match="on the wire when the task was killed"):
        operator.execute(make_context())

    (call,) = slow_votel_sandbox.admin.records(slow_votel_key, "call")
    assert _call_status(call["id"]) == "canceled"
    assert len(slow_votel_sandbox.admin.records(slow_votel_key, "call_cancel")) == 1


def test_on_kill_before_any_call_started_sends_nothing(
    slow_votel_connection: str, slow_votel_sandbox: SandboxServer, slow_votel_key: str
) -> None:
    StartCallOperator(task_id="call", agent_id=_agent(), to="+14155550101").on_kill()
    assert slow_votel_sandbox.admin.records(slow_votel_key, "call_cancel") == []


def test_on_kill_of_a_call_that_already_ended_logs_the_409_and_does_not_raise(
    votel_connection: str, capsys: pytest.CaptureFixture[str]
) -> None:
    operator = StartCallOperator(
        task_id="call", agent_id=_agent(), to="+14155550104", wait_for_completion=True, poke_interval=0.1
    )
    call = operator.execute(make_context())
    assert call["status"] == "completed"

    capsys.readouterr()
    operator.on_kill()

    assert "had already ended, nothing to stop" in capsys.readouterr().out
    assert _call_status(call["id"]) == "completed"


@pytest.mark.parametrize(("cancel_on_timeout", "status"), [(True, "canceled"), (False, "queued")])
def test_a_call_whose_wait_times_out_is_canceled_unless_told_not_to(
    slow_votel_connection: str, cancel_on_timeout: bool, status: str
) -> None:
    operator = StartCallOperator(
        task_id="call", agent_id=_agent(), to="+14155550101", wait_for_completion=True,
        poke_interval=0.1, timeout=0.3, cancel_on_timeout=cancel_on_timeout,
    )  # fmt: skip
    with pytest.raises(AirflowSensorTimeout):
        operator.execute(make_context())
    assert operator.started_call_id is not None
    assert _call_status(operator.started_call_id) == status


def test_on_kill_pauses_the_campaign_the_task_started(slow_votel_connection: str) -> None:
    campaign_id = _campaign()
    operator = StartCampaignOperator(task_id="campaign", campaign_id=campaign_id)
    assert operator.execute(make_context())["status"] == "running"

    operator.on_kill()

    assert _campaign_status(campaign_id) == "paused"


def test_a_kill_while_the_campaigns_start_request_is_on_the_wire_pauses_it_when_it_answers(
    slow_votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign_id = _campaign()
    operator = StartCampaignOperator(task_id="campaign", campaign_id=campaign_id)
    _killed_while_on_the_wire(monkeypatch, operator, "/start")

    with pytest.raises(VotelInterruptedError, match=f"campaign {campaign_id} was started"):
        operator.execute(make_context())

    assert _campaign_status(campaign_id) == "paused"


def test_a_campaign_whose_wait_times_out_is_paused_only_with_cancel_on_timeout(
    slow_votel_connection: str,
) -> None:
    hook = VotelHook()
    first, second = (c["id"] for c in hook.get(endpoints.CAMPAIGNS)[:2])
    for campaign_id, cancel in ((first, False), (second, True)):
        operator = StartCampaignOperator(
            task_id="campaign", campaign_id=campaign_id, wait_for_completion=True, deferrable=False,
            poke_interval=0.1, timeout=0.3, cancel_on_timeout=cancel,
        )  # fmt: skip
        with pytest.raises(AirflowSensorTimeout):
            operator.execute(make_context())
    assert (_campaign_status(first), _campaign_status(second)) == ("running", "paused")


def test_on_kill_cancels_the_import_jobs_still_running(
    slow_votel_connection: str, slow_votel_sandbox: SandboxServer, slow_votel_key: str
) -> None:
    rows = [{"first_name": f"Kill{i}", "phone": f"+1415555{9100 + i}"} for i in range(3)]
    operator = UpsertContactsOperator(task_id="upsert", records=rows, chunk_size=2, wait_for_completion=False)
    result = operator.execute(make_context(state_store=FakeStateStore()))
    assert len(result["job_ids"]) == 2

    operator.on_kill()

    hook = VotelHook()
    statuses = [
        hook.get(endpoints.path(endpoints.CONTACT_IMPORT, import_id=i))["status"] for i in result["job_ids"]
    ]
    assert statuses == ["canceled", "canceled"]
    assert sorted(
        r["id"] for r in slow_votel_sandbox.admin.records(slow_votel_key, "import_cancel")
    ) == sorted(result["job_ids"])


def test_a_kill_while_an_import_jobs_request_is_on_the_wire_cancels_it_and_posts_no_more(
    slow_votel_connection: str,
    slow_votel_sandbox: SandboxServer,
    slow_votel_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [{"first_name": f"Wire{i}", "phone": f"+1415555{9200 + i}"} for i in range(3)]
    operator = UpsertContactsOperator(task_id="upsert", records=rows, chunk_size=2, wait_for_completion=False)
    posted = _killed_while_on_the_wire(monkeypatch, operator, endpoints.CONTACT_IMPORTS)

    with pytest.raises(VotelInterruptedError, match="import job"):
        operator.execute(make_context(state_store=FakeStateStore()))

    # The first chunk's job is canceled once; the second chunk is never posted.
    assert posted == [endpoints.CONTACT_IMPORTS]
    (cancel,) = slow_votel_sandbox.admin.records(slow_votel_key, "import_cancel")
    assert (
        VotelHook().get(endpoints.path(endpoints.CONTACT_IMPORT, import_id=cancel["id"]))["status"]
        == "canceled"
    )


def test_cancel_call_operator_cancels_every_call_of_an_agent_in_flight_and_no_other(
    slow_votel_connection: str,
) -> None:
    hook = VotelHook()
    mine, other = (a["id"] for a in hook.get(endpoints.AGENTS)[:2])
    started = [
        hook.request("POST", endpoints.path(endpoints.AGENT_CALLS, agent_id=agent), json={"to": to})["id"]
        for agent, to in ((mine, "+14155550101"), (mine, "+14155550102"), (other, "+14155550103"))
    ]

    result = CancelCallOperator(task_id="cancel", agent_id=mine).execute(make_context())

    assert result == {"canceled": sorted(started[:2]), "already_ended": []}
    assert [_call_status(c) for c in started] == ["canceled", "canceled", "queued"]
    # Run again (a retry): nothing left in flight for the agent, so nothing to do.
    assert CancelCallOperator(task_id="cancel", agent_id=mine).execute(make_context()) == {
        "canceled": [],
        "already_ended": [],
    }


def test_cancel_call_operator_reports_calls_that_already_ended(slow_votel_connection: str) -> None:
    hook = VotelHook()
    path = endpoints.path(endpoints.AGENT_CALLS, agent_id=_agent())
    first, second = (hook.request("POST", path, json={"to": "+14155550101"})["id"] for _ in range(2))
    hook.request("POST", endpoints.path(endpoints.CALL_CANCEL, call_id=first))

    result = CancelCallOperator(task_id="cancel", call_id=[first, second]).execute(make_context())

    assert result == {"canceled": [second], "already_ended": [first]}


def test_cancel_call_operator_wants_exactly_one_of_call_id_or_agent_id() -> None:
    with pytest.raises(VotelInputError, match="exactly one of call_id or agent_id"):
        CancelCallOperator(task_id="cancel")
    with pytest.raises(VotelInputError, match="exactly one of call_id or agent_id"):
        CancelCallOperator(task_id="cancel", call_id="c", agent_id="a")


def test_pause_and_resume_operators_switch_a_running_campaign_and_tolerate_a_repeat(
    slow_votel_connection: str,
) -> None:
    campaign_id = _campaign()
    StartCampaignOperator(task_id="start", campaign_id=campaign_id).execute(make_context())

    assert PauseCampaignOperator(task_id="pause", campaign_id=campaign_id).execute(make_context())[
        "status"
    ] == ("paused")
    # A retry of the pause finds it paused already: success, not a 409 failure.
    assert PauseCampaignOperator(task_id="pause", campaign_id=campaign_id).execute(make_context())[
        "status"
    ] == ("paused")
    resumed = ResumeCampaignOperator(task_id="resume", campaign_id=campaign_id).execute(make_context())
    assert resumed["status"] == "running"
    assert (
        ResumeCampaignOperator(task_id="resume", campaign_id=campaign_id).execute(make_context())["status"]
        == "running"
    )


def test_resuming_a_draft_campaign_fails_with_the_servers_reason(slow_votel_connection: str) -> None:
    from votel_airflow.exceptions import VotelBadRequestError

    with pytest.raises(VotelBadRequestError, match="not paused"):
        ResumeCampaignOperator(task_id="resume", campaign_id=_campaign()).execute(make_context())


KILL_DAG = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from votel_airflow.operators.agents import StartCallOperator
from votel_airflow.operators.workflows import StartCampaignOperator

with DAG("kill_switch_dag", schedule=None, start_date=datetime(2026, 1, 1)):
    StartCallOperator(task_id="timed_out_task", agent_id="__AGENT__", to="+14155550101",
                      wait_for_completion=True, poke_interval=0.2,
                      execution_timeout=timedelta(seconds=3))
    StartCallOperator(task_id="deferred_wait", agent_id="__AGENT__", to="+14155550102",
                      deferrable=True, poke_interval=0.2, timeout=1)
    StartCampaignOperator(task_id="campaign_wait", campaign_id="__CAMPAIGN__", wait_for_completion=True,
                          deferrable=True, poke_interval=0.2, timeout=1, cancel_on_timeout=True)
"""


def test_the_task_runner_cancels_on_execution_timeout_and_deferred_waits_cancel_on_timeout(
    slow_votel_connection: str,
    slow_votel_sandbox: SandboxServer,
    slow_votel_key: str,
    airflow_db: Path,
    dags: Path,
) -> None:
    campaign_id = _campaign()
    write_dag(dags, KILL_DAG.replace("__AGENT__", _agent()).replace("__CAMPAIGN__", campaign_id))

    states = dagrun_task_states(run_dag(dags, "kill_switch_dag"))

    assert states == {"timed_out_task": "failed", "deferred_wait": "failed", "campaign_wait": "failed"}
    calls = {c["recipient"]: c["id"] for c in slow_votel_sandbox.admin.records(slow_votel_key, "call")}
    # Past execution_timeout Airflow called on_kill; the deferred wait's timeout cancelled its call.
    assert _call_status(calls["+14155550101"]) == "canceled"
    assert _call_status(calls["+14155550102"]) == "canceled"
    assert _campaign_status(campaign_id) == "paused"
