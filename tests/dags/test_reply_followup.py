"""The votel_reply_followup example: scheduled on a watched asset, and its tasks run with ``dag.test()``.

``dag.test()`` cannot deliver an asset event, so the runs below hand the DAG the replies (the
messaging-log rows a watcher would carry as payloads) through its ``replies`` param; the rows are
real ones, injected into the sandbox and read back over HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.dags.conftest import EXAMPLES
from tests.support import dagrun_task_states, run_dag
from votel_airflow import endpoints
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer
from votel_airflow.triggers.events import VotelEventTrigger

pytestmark = pytest.mark.usefixtures("airflow_db")

DAG_ID = "votel_reply_followup"


def _contact(hook: VotelHook, n: int, **consent: Any) -> str:
    body = {"first_name": f"Lead {n}", "phone": f"+1202555{n:04d}", **consent}
    return str(hook.request("POST", endpoints.CONTACTS, json=body)["id"])


def _inbound(hook: VotelHook, contact_id: str) -> list[dict[str, Any]]:
    return list(
        hook.paginate(endpoints.MESSAGING_LOGS, params={"direction": "inbound", "contact_id": contact_id})
    )


def _run(replies: list[dict[str, Any]]) -> dict[str, str]:
    dagrun = run_dag(EXAMPLES, DAG_ID, run_conf={"replies": replies})
    states = dagrun_task_states(dagrun)
    assert str(dagrun.state) == "success", states
    return states


def _tasks_for(hook: VotelHook, reply_id: str) -> list[dict[str, Any]]:
    return [
        t
        for t in hook.paginate(endpoints.TASKS)
        if (t.get("custom_fields") or {}).get("votel_reply_id") == reply_id
    ]


def test_the_dag_is_scheduled_on_an_asset_watched_for_inbound_sms() -> None:
    from votel_airflow.compat import DagBag

    dag = DagBag(dag_folder=str(EXAMPLES / f"{DAG_ID}.py")).get_dag(DAG_ID)
    assets = dag.timetable.asset_condition.objects
    assert [a.name for a in assets] == ["votel_inbound_sms"]
    (watcher,) = assets[0].watchers
    trigger = watcher.trigger
    assert isinstance(trigger, VotelEventTrigger)
    kwargs = trigger.serialize()[1]
    assert kwargs["event"] == "message.inbound"
    assert kwargs["filters"] == {"channel": "sms"}


def test_the_same_reply_delivered_twice_gets_one_task(
    votel_sandbox: SandboxServer, votel_api_key: str, votel_connection: str
) -> None:
    hook = VotelHook(votel_connection)
    asker = _contact(hook, 3)
    votel_sandbox.admin.inject_inbound(votel_api_key, asker, "What does it cost?")
    replies = _inbound(hook, asker)

    _run(replies)
    _run(replies)

    assert len(_tasks_for(hook, replies[0]["id"])) == 1


def test_a_start_reply_takes_sms_out_of_dnd_channels(
    votel_sandbox: SandboxServer, votel_api_key: str, votel_connection: str
) -> None:
    hook = VotelHook(votel_connection)
    person = _contact(hook, 4, dnd_channels=["sms", "call"])
    votel_sandbox.admin.inject_inbound(votel_api_key, person, "START")

    _run(_inbound(hook, person))

    assert hook.get_contact(person)["dnd_channels"] == ["call"]
