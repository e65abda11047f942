"""Shared polling: call waits of one event loop and account share each poll, against the sandbox.

Requests are counted by the sandbox's own admin stats, per path, never by a mock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from votel_airflow import endpoints
from votel_airflow.conditions.calls import CallCompletedCondition
from votel_airflow.defaults import MAX_PAGE_SIZE
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer
from votel_airflow.testing import SandboxFactory, point_connection
from votel_airflow.triggers import shared_poll
from votel_airflow.triggers.condition import VotelConditionTrigger

CALL_GET = "GET /activity/calls/{call_id}"
#: Listing reads a round may make beyond ceil(N / page): one per in-flight status, one of ended calls.
ROUND_CONSTANT = 4
#: Seconds before a test's wait would time out: never reached by a passing test.
WAIT_DEADLINE = 900


@pytest.fixture
def slow_calls(votel_sandboxes: SandboxFactory, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """A sandbox whose calls stay in flight for minutes, with ``votel_default`` on a fresh account."""
    server = votel_sandboxes(call_stage_seconds=120)
    point_connection(monkeypatch, server, server.admin.create_account(balance=1000.0))
    return server


def start_calls(*numbers: str, conn_id: str = "votel_default") -> list[str]:
    hook = VotelHook(conn_id)
    agent_id = hook.get(endpoints.AGENTS)[0]["id"]
    path = endpoints.path(endpoints.AGENT_CALLS, agent_id=agent_id)
    return [str(hook.request("POST", path, json={"to": to})["id"]) for to in numbers]


def trigger(call_id: str, *, share: bool = True, interval: float = 0.05) -> VotelConditionTrigger:
    condition = CallCompletedCondition(call_id=call_id, fail_on=["failed", "busy"])
    # The wait's own deadline is far beyond every bound of this module (``until`` gives up after
    # 60 s): on a loaded CI machine a 30 s deadline once passed mid-test, and a wait that timed
    # out left its poller, which read as a bug in leaving.
    built = VotelConditionTrigger.for_condition(
        condition, votel_conn_id="votel_default", poke_interval=interval, timeout=WAIT_DEADLINE
    )
    # As the triggerer does: rebuilt from its serialized kwargs.
    kwargs = built.serialize()[1]
    if not share:
        kwargs["share_polls"] = False
    return VotelConditionTrigger(**kwargs)


async def first_event(t: VotelConditionTrigger) -> dict[str, Any]:
    async for event in t.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


async def until(check: Callable[[], bool]) -> None:
    # A bound, not a timing: without it a broken poller would hang the suite.
    for _ in range(6000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the awaited state never came")


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(main())  # type: ignore[arg-type]


def poller() -> shared_poll.SharedPoller | None:
    pollers = shared_poll.running_pollers()
    return pollers[0] if pollers else None


def test_many_call_waits_cost_listing_pages_per_interval_not_one_request_each(
    slow_calls: SandboxServer,
) -> None:
    count = 600  # two pages of the in-flight listing
    call_ids = start_calls(*(f"+1415555{n:04d}" for n in range(count)))
    slow_calls.admin.reset_stats()

    async def main() -> int:
        tasks = [asyncio.create_task(first_event(trigger(c))) for c in call_ids]
        await until(lambda: poller() is not None and len(poller().subscribers) == count)  # type: ignore[union-attr]
        shared = poller()
        assert shared is not None
        start = shared.rounds
        await until(lambda: shared.rounds >= start + 5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return shared.rounds

    rounds = run(main)
    stats = slow_calls.admin.stats()

    per_round = math.ceil(count / MAX_PAGE_SIZE) + ROUND_CONSTANT
    assert stats["requests_total"] <= (rounds + 1) * per_round
    assert stats["requests_total"] < rounds * count  # what one GET per wait would have cost
    assert stats["paths"].get(CALL_GET, 0) == 0


def test_calls_that_end_during_their_waits_are_read_from_the_listings_not_one_by_one(
    votel_sandboxes: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = votel_sandboxes(call_stage_seconds=1.0)
    point_connection(monkeypatch, server, server.admin.create_account(balance=1000.0))
    call_ids = start_calls("+14155550101", "+14155550100", "+14155550109")
    server.admin.reset_stats()

    async def main() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(first_event(trigger(c)) for c in call_ids)))

    events = run(main)
    stats = server.admin.stats()

    assert [(e["status"], e["value"]["status"]) for e in events] == [
        ("success", "completed"), ("success", "no_answer"), ("failed", "failed")
    ]  # fmt: skip
    assert stats["paths"].get(CALL_GET, 0) == 0


def test_a_wait_the_listings_cannot_see_falls_back_to_its_own_get(votel_connection: str) -> None:
    # The call ends before the wait starts: no in-flight list shows it, and the poller has never
    # learnt when it was created, so only the call's own GET can answer.
    (call_id,) = start_calls("+14155550101")
    hook = VotelHook()
    while hook.get(endpoints.path(endpoints.CALL, call_id=call_id))["status"] != "completed":
        time.sleep(0.05)

    async def main() -> dict[str, Any]:
        return await first_event(trigger(call_id))

    event = run(main)

    assert event["status"] == "success"
    assert event["value"]["id"] == call_id


def test_shared_waits_end_exactly_as_waits_polling_alone(
    votel_sandbox: SandboxServer, votel_connection: str
) -> None:
    # Endings by last digit: 1 completed, 0 no_answer, 8 busy (fails), 9 failed (fails).
    numbers = ("+14155550101", "+14155550100", "+14155550108", "+14155550109")
    shared_ids = start_calls(*numbers)
    alone_ids = start_calls(*numbers)

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        shared = [asyncio.create_task(first_event(trigger(c))) for c in shared_ids]
        alone = [asyncio.create_task(first_event(trigger(c, share=False))) for c in alone_ids]
        return list(await asyncio.gather(*shared)), list(await asyncio.gather(*alone))

    votel_sandbox.admin.reset_stats()
    shared_events, alone_events = run(main)

    def comparable(event: dict[str, Any], call_id: str) -> Any:
        value = {k: v for k, v in event["value"].items() if k not in ("started_at", "ended_at")}
        return json.loads(json.dumps({**event, "value": value}).replace(call_id, "<id>"))

    assert [e["status"] for e in shared_events] == ["success", "success", "failed", "failed"]
    assert [comparable(e, c) for e, c in zip(shared_events, shared_ids, strict=True)] == [
        comparable(e, c) for e, c in zip(alone_events, alone_ids, strict=True)
    ]


def test_a_cancelled_wait_leaves_and_the_last_one_out_stops_the_poller(slow_calls: SandboxServer) -> None:
    first_id, second_id = start_calls("+14155550101", "+14155550102")

    async def main() -> None:
        first = asyncio.create_task(first_event(trigger(first_id)))
        second = asyncio.create_task(first_event(trigger(second_id)))
        await until(lambda: poller() is not None and len(poller().subscribers) == 2)  # type: ignore[union-attr]
        shared = poller()
        assert shared is not None
        assert shared.task is not None
        await until(lambda: shared.rounds >= 1)

        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        # A second wait that ended on its own (an event) would leave too: say so, not "[] != [id]".
        assert not second.done(), second.result()
        assert [s.object_id for s in shared.subscribers] == [second_id]
        assert not shared.task.done()

        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
        assert shared.subscribers == set()
        assert poller() is None
        await asyncio.gather(shared.task, return_exceptions=True)
        assert shared.task.cancelled()

    run(main)


def test_a_rate_limited_listing_slows_the_shared_poll_instead_of_multiplying_requests(
    votel_sandboxes: SandboxFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=shared_poll.__name__)
    server = votel_sandboxes(call_stage_seconds=120, rate_limit=5)
    key = server.admin.create_account(balance=1000.0)
    point_connection(monkeypatch, server, key, "votel_setup")
    # No retries: the poller itself sees the 429 that the hook would otherwise wait out.
    conn = {"conn_type": "votel", "host": server.base_url, "password": key, "extra": {"max_retries": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps(conn))
    count = 20
    call_ids = start_calls(*(f"+1415556{n:04d}" for n in range(count)), conn_id="votel_setup")
    server.admin.reset_stats()

    async def main() -> int:
        tasks = [asyncio.create_task(first_event(trigger(c))) for c in call_ids]
        await until(lambda: poller() is not None)
        shared = poller()
        assert shared is not None
        # A read or more a round every 0.05 s asks 20 requests/s or more of an account allowed 5.
        await until(lambda: any(r.name == shared_poll.__name__ for r in caplog.records))
        await until(lambda: shared.rounds >= 3)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return shared.rounds

    rounds = run(main)
    stats = server.admin.stats()

    slowed_to = [r.args[1] for r in caplog.records if r.name == shared_poll.__name__]  # type: ignore[index]
    assert slowed_to
    assert all(interval > 0.05 for interval in slowed_to)
    assert stats["by_status"].get("429", 0) >= 1
    assert stats["paths"].get(CALL_GET, 0) == 0
    assert stats["requests_total"] <= (rounds + 1) * (math.ceil(count / MAX_PAGE_SIZE) + ROUND_CONSTANT)


def test_the_stored_form_of_a_default_trigger_is_unchanged() -> None:
    stored = trigger("c_1").serialize()

    assert stored[0] == "votel_airflow.triggers.condition.VotelConditionTrigger"
    assert set(stored[1]) == {
        "condition_class", "condition_kwargs", "votel_conn_id", "poke_interval", "deadline"
    }  # fmt: skip
    assert trigger("c_1", share=False).serialize()[1]["share_polls"] is False


def test_a_wait_cancelled_as_its_answer_arrives_ends_cancelled_instead_of_polling_on() -> None:
    # The triggerer cancels a wait whose task was cleared or killed. An answer delivered in the
    # same loop turn once won (asyncio.wait_for before Python 3.12): the wait polled on until its
    # call ended, minutes later.
    waiting = trigger("c_1")
    condition = CallCompletedCondition(call_id="c_1", fail_on=["failed"])
    subscription = shared_poll.Subscription("c_1", interval=0.05)

    async def main() -> bool:
        task = asyncio.create_task(waiting._await_shared(condition, subscription))
        for _ in range(3):
            await asyncio.sleep(0)  # the wait now awaits its next answer
        subscription.deliver({"id": "c_1", "status": "queued"})
        task.cancel()
        # A bound, not a timing: the broken wait would wait for answers forever.
        await asyncio.wait({task}, timeout=30)
        # Read now: leaving ``asyncio.run`` cancels whatever still runs.
        return task.cancelled()

    assert run(main)
