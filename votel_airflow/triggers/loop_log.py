"""Log lines written from a trigger without ever stopping the triggerer's event loop.

In Airflow 3's triggerer a trigger's log line goes down a pipe to the triggerer's supervisor
process, and writing it blocks while that pipe is full. The supervisor does not read the pipe
while it sends a reply to the trigger runner, and that send blocks until the runner's event
loop reads it. A line written from the loop's own thread at that moment stops both processes
for good: the loop waits for the supervisor to read the line, the supervisor for the loop to
read the reply (apache/airflow#65286). In the e2e tier a thousand waits ending in one poll
round, each logging and pushing its result, stalled a 3.3.2 triggerer that way every time.

So every line a trigger writes while its coroutine runs goes through :func:`log_aside`: the
write happens on a worker thread, and the loop goes on reading replies while a line waits for
room in the pipe. A trigger awaits its own lines, so they keep their order.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class LevelLogger(Protocol):
    """What a trigger's ``self.log`` and a ``logging.Logger`` both offer."""

    def isEnabledFor(self, level: int) -> bool: ...

    def log(self, level: int, msg: str, /, *args: Any) -> object: ...


async def log_aside(logger: LevelLogger, level: int, msg: str, *args: Any) -> None:
    """Write ``msg % args`` at ``level`` from a worker thread; nothing at all below the logger's level."""
    if logger.isEnabledFor(level):
        # to_thread copies the coroutine's context, which is how the triggerer files the line
        # under this trigger's log.
        await asyncio.to_thread(logger.log, level, msg, *args)
