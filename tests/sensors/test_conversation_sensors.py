"""InboundReplySensor against the sandbox: what counts as a reply, and a deferred wait in dag.test()."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import dagrun_task_states, make_context, run_dag, write_dag
from votel_airflow.conditions import Condition
from votel_airflow.exceptions import VotelInputError
from votel_airflow.operators.conversations import SendMessageOperator
from votel_airflow.sensors.conversations import InboundReplyCondition, InboundReplySensor
from votel_airflow.triggers.condition import VotelConditionTrigger


def contacts(sandbox: Any, api_key: str, *, replies: bool) -> list[dict[str, Any]]:
    """Seeded contacts with a phone; ``replies``: those the sandbox answers "YES" (phone ends in 7)."""
    response = requests.get(
        f"{sandbox.base_url}/contacts", headers={"X-API-Key": api_key}, params={"limit": 500}, timeout=30
    )
    response.raise_for_status()
    return [
        c
        for c in response.json()
        if c.get("phone") and c["phone"].endswith("7") == replies and not c["phone"].endswith(("13", "66"))
    ]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def sensor(contact_id: str, **kwargs: Any) -> InboundReplySensor:
    return InboundReplySensor(task_id="reply", contact_id=contact_id, deferrable=False, **kwargs)


def test_reply_condition_round_trips_through_json():
    condition = InboundReplyCondition(contact_id="c-1", after="2026-11-01T00:00:00+00:00", channel="sms")
    class_path, kwargs = condition.serialize()

    rebuilt = Condition.deserialize(class_path, json.loads(json.dumps(kwargs)))

    assert rebuilt.kwargs == condition.kwargs


def test_sensor_returns_the_contacts_first_reply_after_the_given_time(
    votel_sandbox, votel_api_key, votel_connection
):
    contact = contacts(votel_sandbox, votel_api_key, replies=False)[0]
    after = now_iso()
    waiting = sensor(contact["id"], after=after)
    assert waiting.poke(make_context()).is_done is False

    first = votel_sandbox.admin.inject_inbound(votel_api_key, contact["id"], "Yes please", "sms")
    votel_sandbox.admin.inject_inbound(votel_api_key, contact["id"], "Also, Friday?", "sms")
    result = waiting.poke(make_context())

    assert result.is_done is True
    assert result.xcom_value["id"] == first["id"]
    assert (result.xcom_value["body"], result.xcom_value["direction"]) == ("Yes please", "inbound")


def test_sensor_ignores_replies_before_the_given_time_and_outbound_messages(
    votel_sandbox, votel_api_key, votel_connection
):
    contact = contacts(votel_sandbox, votel_api_key, replies=False)[0]
    votel_sandbox.admin.inject_inbound(votel_api_key, contact["id"], "an old reply", "sms")
    time.sleep(0.01)
    after = now_iso()
    SendMessageOperator(task_id="send", contact_ids=contact["id"], channel="sms", body="Hi").execute(
        make_context()
    )

    assert sensor(contact["id"], after=after).poke(make_context()).is_done is False


def test_sensor_waits_for_the_given_channel_only(votel_sandbox, votel_api_key, votel_connection):
    contact = contacts(votel_sandbox, votel_api_key, replies=False)[0]
    after = now_iso()
    votel_sandbox.admin.inject_inbound(votel_api_key, contact["id"], "by mail", "email")

    assert sensor(contact["id"], after=after, channel="sms").poke(make_context()).is_done is False
    assert (
        sensor(contact["id"], after=after, channel="email").poke(make_context()).xcom_value["body"]
        == "by mail"
    )


def test_sensor_catches_the_sandboxes_automatic_yes_after_a_thread_message(
    votel_sandbox, votel_api_key, votel_connection
):
    contact = contacts(votel_sandbox, votel_api_key, replies=True)[0]
    after = now_iso()
    SendMessageOperator(task_id="send", contact_ids=contact["id"], channel="sms", body="Book?").execute(
        make_context()
    )
    waiting = sensor(contact["id"], after=after, channel="sms")

    deadline = time.monotonic() + 10
    while not (result := waiting.poke(make_context())).is_done:
        assert time.monotonic() < deadline, "no reply within 10 s"
        time.sleep(0.1)

    assert result.xcom_value["body"] == "YES"
    assert result.xcom_value["contact_id"] == contact["id"]


def test_sensor_rejects_a_blank_contact_or_unknown_channel_at_parse_time():
    with pytest.raises(VotelInputError, match=r"contact_id='': must be a non-empty id"):
        InboundReplySensor(task_id="reply", contact_id="")
    with pytest.raises(VotelInputError, match=r"channel='fax': is not one of"):
        InboundReplySensor(task_id="reply", contact_id="c-1", channel="fax")


def test_sensor_rejects_a_rendered_bad_time_before_any_request(
    votel_sandbox, votel_api_key, votel_connection
):
    waiting = InboundReplySensor(
        task_id="reply", contact_id="c-1", after="{{ params.after }}", deferrable=True
    )
    waiting.after = "yesterday-ish"  # as rendered
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"after='yesterday-ish': is not an ISO 8601 date-time"):
        waiting.execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_sensor_without_after_needs_a_dag_run_start():
    with pytest.raises(VotelInputError, match="after=None: is not set"):
        InboundReplySensor(task_id="reply", contact_id="c-1").condition(make_context())


def test_sensor_defers_in_a_dag_run_and_returns_the_reply_to_this_runs_message(
    tmp_path: Path,
    dags: Path,
    monkeypatch: pytest.MonkeyPatch,
    airflow_db,
    votel_sandbox,
    votel_api_key,
    votel_connection,
):
    contact = contacts(votel_sandbox, votel_api_key, replies=False)[0]
    # A reply from before the run must not satisfy the wait (the default `after` is the run's start).
    votel_sandbox.admin.inject_inbound(votel_api_key, contact["id"], "stale", "sms")
    runs: list[VotelConditionTrigger] = []
    original_run = VotelConditionTrigger.run

    async def reply_once_deferred(self: VotelConditionTrigger):  # type: ignore[no-untyped-def]
        # Reply only once the wait is in the triggerer, so the sensor's first look found nothing.
        runs.append(self)
        reply = (votel_api_key, contact["id"], "Thursday works", "sms")
        threading.Timer(0.5, votel_sandbox.admin.inject_inbound, reply).start()
        async for event in original_run(self):
            yield event

    monkeypatch.setattr(VotelConditionTrigger, "run", reply_once_deferred)
    out = tmp_path / "reply.json"
    write_dag(
        dags,
        f"""
        from datetime import datetime, timedelta
        from airflow.sdk import DAG, task
        from votel_airflow.operators.conversations import SendMessageOperator
        from votel_airflow.sensors.conversations import InboundReplySensor

        with DAG("reply_dag", schedule=None, start_date=datetime(2026, 1, 1),
                 params={{"contact": {contact["id"]!r}, "channel": "sms"}},
                 default_args={{"retries": 0, "retry_delay": timedelta(0)}}):
            send = SendMessageOperator(
                task_id="send", contact_ids="{{{{ params.contact }}}}", channel="sms", body="When suits you?",
            )
            wait = InboundReplySensor(
                task_id="wait", contact_id="{{{{ params.contact }}}}", channel="{{{{ params.channel }}}}",
                deferrable=True, poke_interval=0.2, timeout=30,
            )

            # Renders `after` explicitly; by the time it runs the reply is there, so it needs no wait.
            again = InboundReplySensor(
                task_id="again", contact_id="{{{{ params.contact }}}}", after="{{{{ dag_run.start_date }}}}",
                deferrable=True, poke_interval=0.2, timeout=30,
            )

            @task
            def keep(reply, same):
                open({str(out)!r}, "w").write(__import__("json").dumps([reply, same]))

            send >> wait >> again
            keep(wait.output, again.output)
        """,
    )

    dagrun = run_dag(dags, "reply_dag")

    assert dagrun_task_states(dagrun) == {
        "send": "success",
        "wait": "success",
        "again": "success",
        "keep": "success",
    }
    reply, same = json.loads(out.read_text())
    assert same == reply
    assert (reply["body"], reply["contact_id"], reply["channel"]) == ("Thursday works", contact["id"], "sms")
    assert len(runs) == 1
    assert runs[0].condition_kwargs["contact_id"] == contact["id"]
