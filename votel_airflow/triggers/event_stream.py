"""One poll for every watcher of an account and event: the Airflow 3.3 shared stream, in ack mode.

On Airflow 3.3 the triggerer groups the event triggers whose ``shared_stream_key()`` are equal
and runs one *producer* per group (``airflow.triggers.shared_stream``). Here a group is one
connection, one event and one poll interval: :class:`EventStreamProducer` reads the listing once
per interval (with no watcher's filters) and each watcher keeps the rows its filters want.

The producer runs in *ack mode*: the triggerer calls :meth:`EventStreamProducer.advance` with a
row only once every watcher of the group has moved past it and the asset events it made are
**stored in Airflow's database**. The group's cursor is saved there, and only there, so it is
never ahead of what Airflow stored: a triggerer lost at any moment loses no event. It can lag
behind by the time between the store and the save (the supervisor confirms a store on its next
sync, about a second, then one round trip saves the cursor): a triggerer lost in that second
delivers those rows once more. Airflow 3.3 gives a trigger no way to read the asset events back
(the triggerer's trigger process may only ask its supervisor for connections, variables, XComs,
task states and the asset state store), and it stores the event and any state in two separate
transactions, so that last second cannot be closed from a trigger.

The group's cursor lives in an Airflow Variable (:class:`~.event_cursor.VariableCursor`): a group
may serve watchers of several assets, so no single asset's state store is its home.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Hashable, Sequence
from datetime import datetime, timezone
from typing import Any

from votel_airflow.exceptions import VotelRateLimitError, VotelServerError
from votel_airflow.triggers import event_cursor, event_reads
from votel_airflow.triggers.event_catalogue import require_event
from votel_airflow.triggers.loop_log import log_aside

log = logging.getLogger(__name__)

#: Failures of a poll that may clear by the next one: logged, never the end of the group.
TRANSIENT = (VotelServerError, VotelRateLimitError, OSError)

#: The raw event closing each poll round: no watcher yields for it, so every watcher moves past
#: the round's last row at once (a row resolves only when its watchers pull the next raw event).
ROUND_END = "votel.round_end"


def group_key(event: str, votel_conn_id: str, poll_interval: float) -> tuple[str, str, str, float]:
    """What watchers must share to share a poll: the connection, the event and the interval."""
    return ("votel-events", votel_conn_id, event, float(poll_interval))


def group_cursor_key(event: str, votel_conn_id: str, poll_interval: float) -> str:
    """The Variable key of a group's cursor (told apart from a lone watcher's by ``shared``)."""
    return event_cursor.cursor_key(event, votel_conn_id, {"shared_poll_interval": float(poll_interval)})


def is_round_end(raw: Any) -> bool:
    return isinstance(raw, dict) and raw.get("type") == ROUND_END


class EventStreamProducer:
    """The poll of one group, yielding ``(row, cursor after the row)``; the cursor saved on advance.

    Duck-types ``airflow.triggers.shared_stream.SharedStreamProducer`` (3.3 only), so importing this
    module needs no 3.3.
    """

    def __init__(self, kwargs: dict[str, Any], store: event_cursor.CursorStore | None = None) -> None:
        self.event = str(kwargs["event"])
        self.votel_conn_id = str(kwargs["votel_conn_id"])
        self.poll_interval = float(kwargs["poll_interval"])
        key = group_cursor_key(self.event, self.votel_conn_id, self.poll_interval)
        self.store: event_cursor.CursorStore = store or event_cursor.VariableCursor(key)
        self.saved: dict[str, Any] | None = None

    async def _start(self) -> dict[str, Any]:
        source = require_event(self.event)
        try:
            cursor = await self.store.load()
        except Exception as exc:
            await log_aside(
                log,
                logging.ERROR,
                "Cannot read the shared %s cursor from %s: %s",
                self.event,
                self.store.where,
                exc,
            )
            cursor = None
        if cursor is None:
            cursor = event_reads.fresh_cursor(source, datetime.now(timezone.utc))
            await log_aside(
                log,
                logging.INFO,
                "No shared %s cursor in %s yet: delivering events from %s",
                self.event,
                self.store.where,
                cursor["stamp"],
            )
            await self._save(cursor)
        else:
            await log_aside(
                log,
                logging.INFO,
                "Resuming shared %s events after %s (cursor in %s, saved once stored by Airflow)",
                self.event,
                cursor["stamp"],
                self.store.where,
            )
        self.saved = cursor
        return cursor

    async def open_stream(self) -> AsyncIterator[tuple[Any, Any]]:
        from votel_airflow.hooks.votel import VotelAsyncHook

        source = require_event(self.event)
        cursor = await self._start()
        async with VotelAsyncHook(self.votel_conn_id) as hook:
            while True:
                try:
                    rows, since = await event_reads.read_events(
                        hook, source, {}, cursor, datetime.now(timezone.utc)
                    )
                except TRANSIENT as exc:
                    await log_aside(
                        log, logging.WARNING, "Polling %s events failed, will poll again: %s", self.event, exc
                    )
                else:
                    for row in rows:
                        cursor = event_reads.advanced(cursor, row, source)
                        yield row, cursor
                        # Let the watchers drain their queues between rows (a burst of more rows
                        # than a watcher's queue holds would fail that watcher).
                        await asyncio.sleep(0)
                    cursor = {**cursor, "since": since}
                    yield {"type": ROUND_END}, cursor
                await asyncio.sleep(self.poll_interval)

    async def advance(self, batch: Sequence[Any]) -> None:
        """Save the cursor after the last row every watcher stored; stop at one that failed."""
        cursor = None
        for item in batch:
            if item.outcome.failed:
                # Not stored by some watcher (its store failed, or it timed out): keep the cursor
                # before it and end the group, so the next poll reads that row again.
                if cursor is not None:
                    await self._save(cursor)
                raise RuntimeError(f"a {self.event} event was not stored by every watcher: reading it again")
            cursor = item.broker_payload
        if cursor is not None:
            await self._save(cursor)

    def get_advance_lane(self, broker_payload: Any) -> Hashable:
        return None

    async def aclose(self) -> None:
        return None

    async def _save(self, cursor: dict[str, Any]) -> None:
        if cursor == self.saved:
            return
        try:
            await self.store.save(cursor)
        except Exception as exc:
            await log_aside(
                log,
                logging.ERROR,
                "Cannot record the shared %s cursor in %s: %s",
                self.event,
                self.store.where,
                exc,
            )
        else:
            self.saved = cursor
