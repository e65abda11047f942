"""VotelConditionTrigger: JSON-only kwargs for every Condition, events against the sandbox, no blocking."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import itertools
import json
import logging
import pkgutil
import time
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from typing import Any

import pytest

import votel_airflow.conditions
import votel_airflow.operators
import votel_airflow.sensors
from tests.support import make_context
from votel_airflow import endpoints
from votel_airflow.compat import TaskDeferred
from votel_airflow.conditions import Condition, Fetch, Verdict
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.agents import StartCallOperator
from votel_airflow.sandbox.server import SandboxServer
from votel_airflow.sensors.base import VotelWaitFailed
from votel_airflow.sensors.calls import CallCompletedCondition, CallCompletedSensor
from votel_airflow.triggers.condition import VotelConditionTrigger


def all_conditions() -> list[type[Condition]]:
    """Every concrete Condition defined by the package's condition, sensor and operator modules."""
    for package in (votel_airflow.conditions, votel_airflow.sensors, votel_airflow.operators):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    found: list[type[Condition]] = []
    pending = list(Condition.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("votel_airflow.") and not inspect.isabstract(cls):
            found.append(cls)
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


#: Candidate JSON values per kind of parameter; constructors may validate (a number in a string,
#: a status from a fixed set), so several shapes are tried in turn.
CANDIDATES: dict[str, list[Any]] = {
    "list": [["completed"], ["sample-1"], ["+14155550101"], []],
    "dict": [{}, {"sample": 1}],
    "bool": [True],
    "float": [1.5],
    "int": [2],
    "str": ["sample-1", "10.5", "2026-11-01T00:00:00+00:00", "+14155550101", "completed", "sms"],
}


def candidates(name: str, annotation: Any) -> list[Any]:
    """JSON values that may fit a constructor parameter, judged from its annotation's text."""
    text = str(annotation).lower()
    for kind in ("list", "sequence", "tuple", "dict", "mapping", "bool", "float", "int"):
        if kind in text:
            key = {"sequence": "list", "tuple": "list", "mapping": "dict"}.get(kind, kind)
            return CANDIDATES[key] + (CANDIDATES["str"] if "str" in text else [])
    return CANDIDATES["str"]


def sample_condition(cls: type[Condition]) -> Condition:
    """An instance built from JSON values only; optional parameters keep their defaults."""
    required = {
        name: candidates(name, param.annotation)
        for name, param in inspect.signature(cls.__init__).parameters.items()
        if name != "self"
        and param.default is inspect.Parameter.empty
        and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
    }
    errors = []
    for values in itertools.islice(itertools.product(*required.values()), 2000):
        try:
            return cls(**dict(zip(required, values, strict=True)))
        except Exception as exc:
            errors.append(exc)
    raise AssertionError(f"{cls.__qualname__} takes no JSON-only arguments we could find: {errors[-1:]}")


CONDITIONS = all_conditions()


def test_condition_discovery_finds_the_call_condition() -> None:
    assert CallCompletedCondition in CONDITIONS


@pytest.mark.parametrize("cls", CONDITIONS, ids=lambda c: c.__qualname__)
def test_trigger_serialize_is_json_only_and_round_trips(cls: type[Condition]) -> None:
    condition = sample_condition(cls)
    trigger = VotelConditionTrigger.for_condition(
        condition, votel_conn_id="votel_other", poke_interval=7, timeout=60
    )

    class_path, kwargs = trigger.serialize()
    through_json = json.loads(json.dumps(kwargs))

    module, _, name = class_path.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**through_json)
    assert rebuilt.serialize() == (class_path, kwargs)
    again = Condition.deserialize(through_json["condition_class"], through_json["condition_kwargs"])
    assert type(again) is cls
    assert again.serialize() == condition.serialize()


#: How long a callback may hold a debug-mode loop before asyncio logs it.
SLOW_CALLBACK = 0.05


def run_trigger(
    trigger: VotelConditionTrigger, *, debug: bool = False, slow_callback: float = SLOW_CALLBACK
) -> list[dict[str, Any]]:
    """Every event the trigger yields, on a fresh event loop (debug mode flags slow callbacks)."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return run_on_loop(collect(), debug=debug, slow_callback=slow_callback)


def run_on_loop(
    coro: Coroutine[Any, Any, Any], *, debug: bool = False, slow_callback: float = SLOW_CALLBACK
) -> Any:
    loop = asyncio.new_event_loop()
    try:
        loop.set_debug(debug)
        loop.slow_callback_duration = slow_callback
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def start_call(to: str) -> str:
    hook = VotelHook()
    agent_id = hook.get(endpoints.AGENTS)[0]["id"]
    call = hook.request("POST", endpoints.path(endpoints.AGENT_CALLS, agent_id=agent_id), json={"to": to})
    return str(call["id"])


def call_trigger(
    call_id: str, *, timeout: float = 20, conn_id: str = "votel_default"
) -> VotelConditionTrigger:
    return VotelConditionTrigger.for_condition(
        CallCompletedCondition(call_id), votel_conn_id=conn_id, poke_interval=0.05, timeout=timeout
    )


def test_run_yields_success_with_the_call_when_it_completes(votel_connection: str) -> None:
    call_id = start_call("+14155550102")

    events = run_trigger(call_trigger(call_id))

    assert len(events) == 1
    assert events[0]["status"] == "success"
    assert events[0]["value"]["id"] == call_id
    assert (events[0]["value"]["status"], events[0]["value"]["outcome"]) == ("completed", "booked")


def test_run_yields_failed_when_the_call_ends_in_a_fail_on_status(votel_connection: str) -> None:
    call_id = start_call("+14155550109")

    events = run_trigger(call_trigger(call_id))

    assert [e["status"] for e in events] == ["failed"]
    assert f"call {call_id} ended failed" in events[0]["message"]


#: How late a 0.3 s timeout may end the wait: the trigger's start (an async client, the first
#: request) on a loaded CI machine fits in it; a 30 s poll interval waited out (15 s at the least,
#: with the first poll's spread) does not.
LATE = 10


class NeverMet(Condition):
    """Polls the agents list and is never satisfied: a wait that can only time out."""

    def fetches(self) -> list[Fetch]:
        return [Fetch(endpoints.AGENTS)]

    def evaluate(self, answers: list[Any]) -> Verdict:
        assert isinstance(answers[0], list)
        return Verdict(done=False, message=f"{len(answers[0])} agents, still waiting")


def test_run_yields_timeout_when_the_deadline_passes_first(votel_connection: str) -> None:
    trigger = VotelConditionTrigger.for_condition(
        NeverMet(), votel_conn_id="votel_default", poke_interval=0.05, timeout=0.3
    )
    started = time.monotonic()

    events = run_trigger(trigger)

    assert [e["status"] for e in events] == ["timeout"]
    assert "not met before the wait's timeout" in events[0]["message"]
    assert 0.25 <= time.monotonic() - started < LATE


def test_timeout_fires_on_time_even_with_a_long_poke_interval(votel_connection: str) -> None:
    trigger = VotelConditionTrigger.for_condition(
        NeverMet(), votel_conn_id="votel_default", poke_interval=30, timeout=0.3
    )
    started = time.monotonic()

    events = run_trigger(trigger)

    assert [e["status"] for e in events] == ["timeout"]
    assert time.monotonic() - started < LATE  # the next poll, 30 s away, is not waited for


def test_a_condition_that_cannot_be_rebuilt_yields_an_error_event() -> None:
    trigger = VotelConditionTrigger("votel_airflow.sensors.calls.NoSuchCondition", {}, poke_interval=1)

    events = run_trigger(trigger)

    assert [e["status"] for e in events] == ["error"]
    assert "cannot rebuild condition votel_airflow.sensors.calls.NoSuchCondition" in events[0]["message"]


def test_transient_errors_are_retried_inside_the_trigger(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No retries in the hook: every injected 500 reaches the trigger's own retry loop.
    conn = {"conn_type": "votel", "host": votel_sandbox.base_url, "password": votel_api_key,
            "extra": {"max_retries": 0}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_NORETRY", json.dumps(conn))
    call_id = start_call("+14155550105")
    admin = votel_sandbox.admin
    admin.reset_stats()
    admin.set_faults(error_rate=1.0)

    async def heal_later() -> list[dict[str, Any]]:
        run = asyncio.ensure_future(_collect(call_trigger(call_id, conn_id="votel_noretry")))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(admin.clear_faults)
        return await run

    try:
        events = run_on_loop(heal_later())
    finally:
        admin.clear_faults()

    assert sum(admin.stats()["faults"].values()) >= 3
    assert [e["status"] for e in events] == ["success"]
    assert events[0]["value"]["status"] == "completed"


async def _collect(trigger: VotelConditionTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def test_unknown_call_yields_an_error_event_that_fails_the_task_clearly(votel_connection: str) -> None:
    events = run_trigger(call_trigger("00000000-0000-0000-0000-000000000000"))

    assert [e["status"] for e in events] == ["error"]
    assert "404" in events[0]["message"]
    sensor = CallCompletedSensor(task_id="wait_call", call_id="x")
    with pytest.raises(VotelWaitFailed, match=r"wait_call: the wait failed: 404 Not Found on GET /activity"):
        sensor.execute_complete(make_context(), events[0])
    operator = StartCallOperator(task_id="call", agent_id="a", to="+14155550101", deferrable=True)
    with pytest.raises(VotelWaitFailed, match=r"call: the wait failed: 404"):
        operator.execute_complete(make_context(), events[0])


@pytest.fixture
def slow_callbacks() -> Iterator[list[str]]:
    """Messages asyncio's debug mode logs for callbacks that held the loop too long."""
    found: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "took" in record.getMessage() and "Executing" in record.getMessage():
                found.append(record.getMessage())

    handler = Catch()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


#: Every API answer is held this long while the trigger runs, so a blocking request on the loop
#: holds it at least this long; the flag sits at half of it.
BLOCKING_REQUEST_SECONDS = 0.5


def test_run_never_blocks_the_event_loop(
    votel_sandbox: SandboxServer, votel_connection: str, slow_callbacks: list[str]
) -> None:
    call_id = start_call("+14155550104")
    # A local sandbox answers in milliseconds: a blocking request would hide under any flag that a
    # busy machine's scheduling delays (60 ms seen on 2 shared cores) do not also cross. With every
    # answer held for half a second, one blocking request crosses a 250 ms flag however loaded the
    # machine is, and scheduling delays stay far below it.
    votel_sandbox.admin.set_faults(slow_rate=1.0, slow_seconds=BLOCKING_REQUEST_SECONDS)
    try:
        events = run_trigger(call_trigger(call_id), debug=True, slow_callback=BLOCKING_REQUEST_SECONDS / 2)
    finally:
        votel_sandbox.admin.clear_faults()

    assert [e["status"] for e in events] == ["success"]
    assert slow_callbacks == []


def test_wait_timeout_is_separate_from_the_execution_timeout(slow_votel_connection: str) -> None:
    call_id = start_call("+14155550101")
    sensor = CallCompletedSensor(
        task_id="wait", call_id=call_id, deferrable=True, timeout=5, poke_interval=1,
        execution_timeout=timedelta(hours=2),
    )  # fmt: skip
    before = time.time()

    with pytest.raises(TaskDeferred) as info:
        sensor.execute(make_context())

    trigger = info.value.trigger
    assert before + 5 <= trigger.deadline <= time.time() + 5
    assert trigger.serialize()[1]["deadline"] == trigger.deadline
    # The deferral's own limit follows the wait timeout (plus slack), not execution_timeout.
    assert info.value.timeout == timedelta(seconds=65)


class NeverMetFor(NeverMet):
    """Never met, with an id to wait on, as an operator's condition has."""

    def __init__(self, call_id: str) -> None:
        Condition.__init__(self, call_id=call_id)


def test_a_timeout_event_names_what_was_waited_on_so_the_task_can_cancel_it(votel_connection: str) -> None:
    trigger = VotelConditionTrigger.for_condition(
        NeverMetFor("call-1"), votel_conn_id="votel_default", poke_interval=0.05, timeout=0.2
    )

    events = run_trigger(trigger)

    assert [e["status"] for e in events] == ["timeout"]
    assert events[0]["value"] == {"call_id": "call-1"}
