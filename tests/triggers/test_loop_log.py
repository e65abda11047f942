"""A trigger's log lines never stop the triggerer's event loop.

In the triggerer a log line goes down a pipe that the supervisor may leave unread until the loop
reads its reply (apache/airflow#65286): a line written from the loop's thread then stalls both.
Here a handler that blocks like that full pipe stands in for it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator

import pytest

from tests.triggers.test_condition_trigger import start_call
from tests.triggers.test_end_from_trigger import ending_trigger
from votel_airflow.compat import TaskSuccessEvent
from votel_airflow.triggers.condition import VotelConditionTrigger


class FullPipe(logging.Handler):
    """Blocks the thread that writes the wait's ending line until released (10 s at most)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked = threading.Event()
        self.released = threading.Event()
        self.written = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "ending the task from the triggerer" in record.getMessage():
            self.blocked.set()
            self.released.wait(10)
            self.written.set()


@pytest.fixture
def full_pipe_trigger(votel_connection: str) -> Iterator[tuple[VotelConditionTrigger, FullPipe]]:
    trigger = ending_trigger(start_call("+14155550102"))
    pipe = FullPipe()
    # The trigger's logger (LoggingMixin keeps it in _log) is one whose lines reach the full pipe.
    logger = logging.getLogger("tests.triggers.full_pipe")
    logger.addHandler(pipe)
    logger.setLevel(logging.INFO)
    trigger._log = logger
    try:
        yield trigger, pipe
    finally:
        logger.removeHandler(pipe)


def test_a_wait_ending_while_its_log_line_cannot_be_written_leaves_the_event_loop_running(
    full_pipe_trigger: tuple[VotelConditionTrigger, FullPipe],
) -> None:
    trigger, pipe = full_pipe_trigger

    async def scenario() -> tuple[int, list[object]]:
        async def collect() -> list[object]:
            return [event async for event in trigger.run()]

        waiting = asyncio.create_task(collect())
        turns_while_blocked = 0
        while not waiting.done():
            if pipe.blocked.is_set() and not pipe.written.is_set():
                # The loop still turns while the line waits: here it reads the reply that frees the pipe.
                turns_while_blocked += 1
                pipe.released.set()
            await asyncio.sleep(0.01)
        return turns_while_blocked, waiting.result()

    turns_while_blocked, events = asyncio.run(scenario())

    assert turns_while_blocked >= 1, "the event loop stopped while the log line could not be written"
    (event,) = events
    assert isinstance(event, TaskSuccessEvent)
    assert pipe.written.is_set()
