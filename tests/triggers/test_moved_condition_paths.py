"""A wait deferred before the conditions moved to ``votel_airflow.conditions`` must still resume.

The triggerer rebuilds a trigger from the class path and kwargs stored when the task deferred; those
name the condition's old home (a sensor module). The old paths stay importable, and a trigger
rebuilt from such a stored form runs against the sandbox as it did before the move.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

import pytest

from votel_airflow import endpoints
from votel_airflow.conditions import Condition
from votel_airflow.hooks.votel import VotelHook

#: Where each condition was serialized from before the move, and where it lives now.
MOVED = {
    "votel_airflow.sensors.calls.CallCompletedCondition": "votel_airflow.conditions.calls",
    "votel_airflow.sensors.calendars.BookingCondition": "votel_airflow.conditions.calendars",
    "votel_airflow.sensors.communication.MessageDeliveryCondition": "votel_airflow.conditions.communication",
    "votel_airflow.sensors.contacts.ContactImportCondition": "votel_airflow.conditions.contacts",
    "votel_airflow.sensors.contacts.ContactImportsCondition": "votel_airflow.conditions.contacts",
    "votel_airflow.sensors.contacts.ContactExportCondition": "votel_airflow.conditions.contacts",
    "votel_airflow.sensors.conversations.InboundReplyCondition": "votel_airflow.conditions.conversations",
    "votel_airflow.sensors.payments.WalletBalanceCondition": "votel_airflow.conditions.payments",
    "votel_airflow.sensors.workflows.WorkflowEnrollmentCondition": "votel_airflow.conditions.workflows",
    "votel_airflow.sensors.workflows.CampaignCondition": "votel_airflow.conditions.workflows",
}
#: How Airflow stores the trigger itself: its own path did not move.
TRIGGER_CLASSPATH = "votel_airflow.triggers.condition.VotelConditionTrigger"


@pytest.mark.parametrize("old_path", sorted(MOVED))
def test_the_old_class_path_resolves_to_the_moved_condition(old_path: str) -> None:
    old_module, _, name = old_path.rpartition(".")
    moved = getattr(importlib.import_module(MOVED[old_path]), name)

    assert getattr(importlib.import_module(old_module), name) is moved
    assert issubclass(moved, Condition)
    assert moved.__module__ == MOVED[old_path]


def _stored_trigger(condition_class: str, condition_kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A trigger as a task that deferred before the move left it in the database."""
    return TRIGGER_CLASSPATH, {
        "condition_class": condition_class,
        "condition_kwargs": condition_kwargs,
        "votel_conn_id": "votel_default",
        "poke_interval": 0.05,
        "deadline": time.time() + 20,
    }


def _resume(classpath: str, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """What the triggerer does on start: import the trigger class, build it, run it to its event."""
    module, _, name = classpath.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**kwargs)

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def _resume_call_wait(to: str) -> tuple[str, list[dict[str, Any]]]:
    """Start a call, then resume a wait on it stored under the condition's old class path."""
    hook = VotelHook()
    agent_id = hook.get(endpoints.AGENTS)[0]["id"]
    call = hook.request("POST", endpoints.path(endpoints.AGENT_CALLS, agent_id=agent_id), json={"to": to})
    old_path = "votel_airflow.sensors.calls.CallCompletedCondition"
    return call["id"], _resume(*_stored_trigger(old_path, {"call_id": call["id"], "fail_on": ["failed"]}))


def test_a_call_wait_stored_under_the_old_path_resumes_to_success(votel_connection: str) -> None:
    call_id, events = _resume_call_wait("+14155550102")

    assert [e["status"] for e in events] == ["success"]
    assert (events[0]["value"]["id"], events[0]["value"]["status"]) == (call_id, "completed")


def test_a_call_wait_stored_under_the_old_path_still_fails_on_a_failed_call(votel_connection: str) -> None:
    call_id, events = _resume_call_wait("+14155550109")

    assert [e["status"] for e in events] == ["failed"]
    assert f"call {call_id} ended failed" in events[0]["message"]


def test_a_wallet_wait_stored_under_the_old_path_resumes_to_success(votel_connection: str) -> None:
    stored = _stored_trigger("votel_airflow.sensors.payments.WalletBalanceCondition", {"min_balance": "0"})

    events = _resume(*stored)

    assert [e["status"] for e in events] == ["success"]
    assert set(events[0]["value"]) == {"balance", "currency"}
