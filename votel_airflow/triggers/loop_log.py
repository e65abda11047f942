"""Write a trigger's log lines from a worker thread, so that no line blocks the triggerer's event loop.

In Airflow 3's triggerer the trigger runner sends each log line over a socket to its supervisor
process, and the write blocks while that socket's buffer is full. The supervisor reads no log
line while it sends the runner a reply, and that send blocks until the runner's event loop reads
it. So a line written from the loop's own thread when both buffers are full deadlocks the two
processes: the loop waits for the supervisor to read the line, the supervisor for the loop to
read its reply (apache/airflow#65286). In the e2e tier, 1,000 call waits ending in one shared
poll round, each logging and pushing its result, stalled a 3.3.2 triggerer this way.

So our triggers write every line they log while running through :func:`log_aside`: the write
happens on a worker thread, and the loop goes on reading replies while the line waits for room
in the socket. A trigger awaits each of its lines, so they keep their order; a line below the
logger's level costs no thread.
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
