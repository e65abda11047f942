"""``on_kill`` while another caller of the account sits out a minute-long ``Retry-After``.

A 429 holds every caller of the account in the process until its ``Retry-After`` has passed. A
killed task has Airflow's ``killed_task_cleanup_time`` (60 s by default) before SIGKILL: its stop
must not queue behind that hold, and its own requests waiting on the hold must end at once.
The call runs on ``slow_votel_sandbox`` (a minute per stage), so it is still going when stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import make_context
from votel_airflow import endpoints
from votel_airflow.exceptions import VotelInterruptedError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.agents import StartCallOperator
from votel_airflow.sandbox.server import SandboxAdmin, SandboxServer

#: What the sandbox asks for on the injected 429: a minute, as a real API may.
RETRY_AFTER = 60
#: The bound on on_kill: far below the hold it must not wait out, far above two local requests.
ON_KILL_WITHIN = 5.0


@pytest.fixture
def slow_faults(slow_votel_sandbox: SandboxServer) -> Iterator[SandboxAdmin]:
    yield slow_votel_sandbox.admin
    slow_votel_sandbox.admin.clear_faults()


def _until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.02)


def _in_thread(hook: VotelHook, outcome: dict[str, Any]) -> threading.Thread:
    def get() -> None:
        try:
            outcome["answer"] = hook.get(endpoints.AGENTS)
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=get, daemon=True)
    thread.start()
    return thread


def test_on_kill_stops_the_call_at_once_while_another_caller_sits_out_a_minute_long_retry_after(
    slow_votel_connection: str, slow_faults: SandboxAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_id = VotelHook().get(endpoints.AGENTS)[0]["id"]
    operator = StartCallOperator(task_id="call", agent_id=agent_id, to="+14155550101")
    call_id = operator.execute(make_context())["id"]
    slow_faults.set_faults(burst_429=1, burst_retry_after=RETRY_AFTER)

    # Another caller of the account (an extract of the same process) meets the 429 first.
    other = VotelHook()
    pacer = other.pacer
    assert pacer is not None
    held: dict[str, Any] = {}
    other_thread = _in_thread(other, held)
    _until(lambda: pacer.hold() > RETRY_AFTER / 2, "the 429 put the account on hold")
    # Then one of the task's own requests takes its slot, behind the hold.
    waiting = threading.Event()
    reserve = pacer.reserve

    def reserve_and_tell(**kwargs: Any) -> float:
        delay = reserve(**kwargs)
        if delay > RETRY_AFTER / 2:
            waiting.set()
        return delay

    monkeypatch.setattr(pacer, "reserve", reserve_and_tell)
    outcome: dict[str, Any] = {}
    task_thread = _in_thread(operator.hook, outcome)
    try:
        assert waiting.wait(30), "the task's request never waited behind the hold"

        started = time.monotonic()
        operator.on_kill()
        took = time.monotonic() - started
        task_thread.join(ON_KILL_WITHIN)
    finally:
        other.interrupt()  # the other caller would sit out its minute otherwise
        other_thread.join(ON_KILL_WITHIN)

    assert took < ON_KILL_WITHIN, f"on_kill took {took:.1f}s behind a {RETRY_AFTER}s Retry-After"
    status = VotelHook(paced=False).get(endpoints.path(endpoints.CALL, call_id=call_id))["status"]
    assert status == "canceled"
    # The task's own request gave up its wait, unsent, instead of holding the task open.
    assert not task_thread.is_alive()
    assert isinstance(outcome.get("error"), VotelInterruptedError), outcome
    assert isinstance(held.get("error"), VotelInterruptedError), held
