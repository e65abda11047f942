"""Mapped waits started in the triggerer read their upstream list once, not once each."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from tests.triggers.test_condition_trigger import run_on_loop, start_call
from votel_airflow.triggers.call_start import CallStartTrigger

WAITS = 8


class UpstreamOutputs:
    """Stands in for ``XCom.get_one`` behind the triggerer: the lists the upstream pushed, in turn."""

    def __init__(self, *outputs: list[str]) -> None:
        self.outputs = list(outputs)
        self.reads: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def get_one(self, **where: Any) -> list[str]:
        with self.lock:
            self.reads.append(where)
            output = self.outputs[min(len(self.reads), len(self.outputs)) - 1]
        time.sleep(0.2)  # a round trip to the supervisor: the other waits start meanwhile
        return output


def mapped_wait(map_index: int, conn_id: str = "votel_default") -> CallStartTrigger:
    trigger = CallStartTrigger(
        None, conn_id, poke_interval=0.05, timeout=20, call_ids_from=["start_calls", "return_value"]
    )
    trigger.task_instance = SimpleNamespace(dag_id="d", run_id="r", task_id="wait", map_index=map_index)
    return trigger


async def events(triggers: list[CallStartTrigger]) -> list[dict[str, Any]]:
    async def first(trigger: CallStartTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return list(await asyncio.gather(*(first(t) for t in triggers)))


@pytest.fixture
def upstream(mocker: Any, votel_connection: str) -> UpstreamOutputs:
    outputs = UpstreamOutputs([start_call(f"+1415555{n:04d}") for n in range(WAITS)])
    mocker.patch("airflow.sdk.execution_time.xcom.XCom.get_one", side_effect=outputs.get_one)
    return outputs


def test_waits_starting_together_read_the_upstream_list_once_and_each_waits_for_its_own_item(
    upstream: UpstreamOutputs,
) -> None:
    ended = run_on_loop(events([mapped_wait(i) for i in range(WAITS)]))

    assert [e["status"] for e in ended] == ["success"] * WAITS
    assert [e["value"]["id"] for e in ended] == upstream.outputs[0]
    assert upstream.reads == [
        {"key": "return_value", "dag_id": "d", "task_id": "start_calls", "run_id": "r", "map_index": -1}
    ]


def test_a_read_is_not_kept_so_a_cleared_upstream_hands_its_new_ids_to_waits_started_after_it(
    upstream: UpstreamOutputs,
) -> None:
    upstream.outputs.append(list(reversed(upstream.outputs[0])))

    async def one_run_then_another() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return await events([mapped_wait(0)]), await events([mapped_wait(0)])

    before, after = run_on_loop(one_run_then_another())

    assert len(upstream.reads) == 2
    assert (before[0]["value"]["id"], after[0]["value"]["id"]) == (
        upstream.outputs[0][0],
        upstream.outputs[1][0],
    )


def test_a_map_index_past_the_upstream_list_fails_the_wait_naming_index_upstream_count_and_fix(
    upstream: UpstreamOutputs,
) -> None:
    (ended,) = run_on_loop(events([mapped_wait(WAITS, conn_id="no_such_connection")]))

    assert ended["status"] == "error"
    assert ended["message"].startswith(
        f"wait #{WAITS} of 'wait': 'start_calls' returned {WAITS} call ids (key 'return_value'), "
        f"none for map index {WAITS}; map the wait over that same output"
    )
    assert "call None" not in ended["message"]


def test_an_upstream_that_pushed_no_list_fails_the_wait_saying_what_it_returned(
    mocker: Any, votel_connection: str
) -> None:
    mocker.patch("airflow.sdk.execution_time.xcom.XCom.get_one", return_value=None)

    (ended,) = run_on_loop(events([mapped_wait(0)]))

    assert ended["status"] == "error"
    assert ended["message"].startswith(
        "wait #0 of 'wait': 'start_calls' returned nothing (key 'return_value'), none for map index 0;"
    )
