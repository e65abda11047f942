"""MessageDeliverySensor: capped rounds that take turns, remembered verdicts, tolerance, deferral."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import FakeStateStore, dagrun_task_states, make_context, run_dag, task_result, write_dag
from votel_airflow.conditions import Condition, Fetch
from votel_airflow.delivery.idempotency import stored_progress
from votel_airflow.exceptions import VotelInputError
from votel_airflow.operators.communication import SendSmsOperator
from votel_airflow.sandbox.server import SandboxServer
from votel_airflow.sensors.base import VotelWaitFailed
from votel_airflow.sensors.communication import (
    PROGRESS_NAME,
    MessageDeliveryCondition,
    MessageDeliverySensor,
    allowed_failures,
    message_ids_from,
)
from votel_airflow.triggers.condition import VotelConditionTrigger


def ids_in(fetches: list[Fetch]) -> list[str]:
    return [f.path.rsplit("/", 1)[1] for f in fetches]


def answer(statuses: dict[str, str], fetches: list[Fetch]) -> list[dict[str, str]]:
    return [{"status": statuses[i]} for i in ids_in(fetches)]


def test_capped_rounds_take_turns_until_every_message_was_asked_about() -> None:
    ids = [f"m{i}" for i in range(10)]
    condition = MessageDeliveryCondition(ids, checks_per_round=4)
    asked: list[list[str]] = []
    for _ in range(3):
        fetches = condition.fetches()
        asked.append(ids_in(fetches))
        condition.evaluate([{"status": "sent"}] * len(fetches))

    assert asked == [ids[0:4], ids[4:8], ids[8:10] + ids[0:2]]


def test_terminal_messages_are_never_asked_about_again() -> None:
    ids = ["a", "b", "c"]
    condition = MessageDeliveryCondition(ids, max_failed=1, checks_per_round=3)
    fetches = condition.fetches()
    verdict = condition.evaluate(answer({"a": "delivered", "b": "sent", "c": "undelivered"}, fetches))
    assert not verdict.done

    assert ids_in(condition.fetches()) == ["b"]
    final = condition.evaluate([{"status": "delivered"}])

    assert final.done
    assert not final.failed
    assert final.value == {"delivered": ["a", "b"], "failed": [], "undelivered": ["c"]}


def test_failures_beyond_the_tolerance_fail_at_once_without_waiting_for_the_rest() -> None:
    condition = MessageDeliveryCondition(["a", "b", "c", "d"], max_failed=1, checks_per_round=2)
    verdict = condition.evaluate(answer({"a": "failed", "b": "undelivered"}, condition.fetches()))

    assert verdict.done
    assert verdict.failed
    assert "2 messages failed or undelivered, over the 1 tolerated" in verdict.message


def test_a_fractional_tolerance_is_a_share_of_the_messages() -> None:
    assert allowed_failures(0.02, 1000) == 20
    assert allowed_failures(0.1, 30) == 3
    assert allowed_failures(3, 1000) == 3


def test_what_was_learnt_travels_to_the_trigger_and_round_trips() -> None:
    condition = MessageDeliveryCondition(["a", "b"], checks_per_round=2)
    condition.evaluate(answer({"a": "delivered", "b": "queued"}, condition.fetches()))

    trigger = VotelConditionTrigger.for_condition(condition, votel_conn_id="c", poke_interval=1, timeout=10)
    _class_path, kwargs = trigger.serialize()
    json.dumps(kwargs)
    rebuilt = Condition.deserialize(kwargs["condition_class"], kwargs["condition_kwargs"])

    assert isinstance(rebuilt, MessageDeliveryCondition)
    assert rebuilt.settled == {"a": "delivered"}
    assert ids_in(rebuilt.fetches()) == ["b"]


def test_message_ids_come_from_a_send_summary_but_not_a_truncated_one() -> None:
    assert message_ids_from({"message_ids": ["a", "b", "a"]}) == ["a", "b"]
    with pytest.raises(VotelInputError, match="results_uri"):
        message_ids_from({"message_ids": ["a"], "message_ids_truncated": True})
    with pytest.raises(VotelInputError):
        message_ids_from([])


@pytest.mark.parametrize("bad", [-1, 1.5, True, "5"])
def test_a_bad_tolerance_fails_when_the_dag_is_parsed(bad: Any) -> None:
    with pytest.raises(VotelInputError) as info:
        MessageDeliverySensor(task_id="wait", message_ids=["a"], max_failed=bad)
    assert info.value.field == "max_failed"


def test_in_reschedule_mode_without_a_state_store_every_message_is_checked_each_poke() -> None:
    sensor = MessageDeliverySensor(
        task_id="wait", message_ids=["a", "b", "c"], checks_per_round=1, mode="reschedule"
    )

    assert sensor.condition(make_context()).checks_per_round == 3


def send(count_ok: list[str], extra: list[str] | None = None) -> list[str]:
    summary = SendSmsOperator(task_id="sms", to=count_ok + (extra or []), body="Hi").execute(make_context())
    ids: list[str] = summary["message_ids"]
    return ids


def test_delivered_messages_end_the_wait_with_the_ids_by_status(votel_connection: str) -> None:
    ids = send(["+14155550101", "+14155550102"], ["+14155550113"])  # ...13 ends undelivered

    result = MessageDeliverySensor(
        task_id="wait", message_ids=ids, max_failed=1, poke_interval=0.1, timeout=20, deferrable=False
    ).execute(make_context())

    assert sorted(result["delivered"]) == sorted(ids[:2])
    assert result["undelivered"] == [ids[2]]


def test_an_undelivered_message_over_the_tolerance_fails_the_task(votel_connection: str) -> None:
    ids = send(["+14155550101"], ["+14155550166"])  # ...66 ends failed

    with pytest.raises(VotelWaitFailed, match="over the 0 tolerated"):
        MessageDeliverySensor(
            task_id="wait", message_ids=ids, poke_interval=0.1, timeout=20, deferrable=False
        ).execute(make_context())


def test_pokes_keep_settled_statuses_in_the_task_state_store(votel_connection: str) -> None:
    ids = send(["+14155550101", "+14155550102", "+14155550103"])
    store = FakeStateStore()

    MessageDeliverySensor(
        task_id="wait", message_ids=ids, checks_per_round=1, poke_interval=0.05, timeout=20, deferrable=False
    ).execute(make_context(state_store=store))

    assert stored_progress(store, PROGRESS_NAME) == {i: "delivered" for i in ids}


DAG_SOURCE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from votel_airflow.operators.communication import SendSmsOperator
from votel_airflow.sandbox.server import SandboxServer
from votel_airflow.sensors.communication import MessageDeliverySensor

with DAG("delivery_dag", schedule=None, start_date=datetime(2026, 1, 1),
         default_args={"retries": 0, "retry_delay": timedelta(0)}):
    sent = SendSmsOperator(task_id="send", to=["+14155550201", "+14155550202", "+14155550213"], body="Hi")
    MessageDeliverySensor(task_id="wait", message_ids=sent.output, max_failed=1, deferrable=True,
                          poke_interval=0.2, timeout=60)
"""


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[SandboxServer]:
    """A sandbox whose messages take seconds to deliver, so the sensor really has to defer."""
    with SandboxServer(message_stage_seconds=2.0) as server:
        yield server


def test_the_sensor_defers_inside_dag_test_and_completes_when_delivery_ends(
    slow_sandbox: SandboxServer,
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow import settings

    key = slow_sandbox.admin.create_account()
    conn = {"conn_type": "votel", "host": slow_sandbox.base_url, "password": key}
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps(conn))
    dags = tmp_path / "dags"
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(dags))
    write_dag(dags, DAG_SOURCE)

    with caplog.at_level(logging.INFO):
        dagrun = run_dag(dags, "delivery_dag")

    states = dagrun_task_states(dagrun)
    assert states == {"send": "success", "wait": "success"}, states
    assert "running trigger in line" in caplog.text
    result = task_result(dagrun, "wait")
    assert (len(result["delivered"]), len(result["undelivered"])) == (2, 1)
