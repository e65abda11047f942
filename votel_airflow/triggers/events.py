"""Votel activity as Airflow asset events: an event trigger for ``AssetWatcher``.

``VotelEventTrigger`` polls one listing of the contract (:mod:`.event_catalogue`) and yields each
new row once, as the payload of a ``TriggerEvent``; the triggerer turns it into an asset event whose
``extra`` is ``{"from_trigger": True, "payload": <the row>}``.

Each event once across a lost triggerer, as far as each Airflow lets a trigger go (the per-minor
table is in docs/guides/event-driven.md):

* The trigger holds no state of its own. Its cursor lives in Airflow (:mod:`.event_cursor`): read
  when it starts, so a new triggerer resumes where the lost one stopped.
* **Airflow 3.3**: watchers of one connection, event and interval share one poll
  (:mod:`.event_stream`, a shared stream in ack mode); the group's cursor is saved only once Airflow
  has stored every watcher's asset event for a row, so it is never ahead of the database. A
  triggerer lost in the second between that store and the save delivers those rows again.
* **Airflow 3.0 to 3.2**: each watcher polls alone (:meth:`VotelEventTrigger.run`) and records a
  yielded event as delivered :data:`~votel_airflow.defaults.EVENT_CURSOR_SETTLE_SECONDS` later,
  once the triggerer has stored it (it hands events over about every second): a triggerer lost in
  that window delivers the event again rather than lose it (at least once). Airflow before 3.3
  never tells a trigger that its event was stored, and no Airflow lets it read the asset events
  back, so the DAG that handles the event should be idempotent on the payload's ``id`` (as the
  example ``votel_reply_followup`` is).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Hashable
from datetime import datetime, timezone
from typing import Any

from votel_airflow.compat import BaseEventTrigger, TriggerEvent
from votel_airflow.defaults import DEFAULT_CONN_ID, EVENT_CURSOR_SETTLE_SECONDS, MIN_EVENT_POLL_INTERVAL
from votel_airflow.exceptions import VotelRateLimitError, VotelServerError
from votel_airflow.triggers import event_cursor, event_reads, event_stream
from votel_airflow.triggers.event_catalogue import require_event, require_filters, row_matches
from votel_airflow.triggers.loop_log import log_aside
from votel_airflow.validation import fail, require_votel_connection

#: Failures of a poll that may clear by the next one: logged, never the end of the watcher.
TRANSIENT = (VotelServerError, VotelRateLimitError, OSError)


#: The keys of a dict argument that reaches the trigger still in Airflow's serialized form.
_ENCODED = (("Encoding.TYPE", "Encoding.VAR"), ("__type", "__var"))


def _decoded(value: Any) -> Any:
    """A dict argument as given, also when the triggerer hands it over still encoded.

    Airflow 3.2's triggerer builds a watcher from kwargs in which an empty dict is left in its
    serialized form (``{"Encoding.TYPE": "dict", "Encoding.VAR": {}}``): refused as unknown
    filters, that killed the triggerer's trigger process
    (tests/compat/test_event_watcher_deployment.py).
    """
    for type_key, var_key in _ENCODED:
        if isinstance(value, dict) and set(value) == {type_key, var_key} and value[type_key] == "dict":
            return _decoded(value[var_key])
    return value


class VotelEventTrigger(BaseEventTrigger):
    """Yield one event per new Votel object of a kind: inbound messages, ended calls, bookings, contacts.

    Use it in ``AssetWatcher(name=..., trigger=VotelEventTrigger(...))``; a DAG scheduled on the
    asset reads the object from ``triggering_asset_events[asset][-1].extra["payload"]``. A watcher
    that starts with no cursor in Airflow delivers the events from that moment on.

    :param event: ``message.inbound``, ``call.ended``, ``booking.created`` or ``contact.created``.
    :param votel_conn_id: Airflow connection of type ``votel``.
    :param filters: per event: ``channel`` for ``message.inbound``; ``agent_id`` and ``status``
        (a final status or a list of them) for ``call.ended``; none for the others.
    :param poll_interval: seconds between polls, at least 1.
    """

    def __init__(
        self,
        event: str,
        votel_conn_id: str = DEFAULT_CONN_ID,
        filters: dict[str, Any] | None = None,
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        require_event(event)
        self.event = event
        self.filters = require_filters(event, _decoded(filters))
        require_votel_connection("votel_conn_id", votel_conn_id)
        self.votel_conn_id = votel_conn_id
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, int | float):
            raise fail("poll_interval", poll_interval, "must be a number of seconds", "Give e.g. 60.")
        if poll_interval < MIN_EVENT_POLL_INTERVAL:
            raise fail(
                "poll_interval",
                poll_interval,
                f"is under {MIN_EVENT_POLL_INTERVAL:g} s",
                f"Poll every {MIN_EVENT_POLL_INTERVAL:g} s or more.",
            )
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {
            "event": self.event,
            "votel_conn_id": self.votel_conn_id,
            "filters": self.filters,
            "poll_interval": self.poll_interval,
        }
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    @property
    def cursor_key(self) -> str:
        return event_cursor.cursor_key(self.event, self.votel_conn_id, self.filters)

    # --- Airflow 3.3: one shared poll per connection, event and interval (ack mode) -------------
    # Earlier triggerers never call these and run :meth:`run` instead.

    def shared_stream_key(self) -> Hashable | None:
        return event_stream.group_key(self.event, self.votel_conn_id, self.poll_interval)

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> Any:
        return event_stream.EventStreamProducer(kwargs)

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events from the group's rows: those its filters want, each yielded once."""
        wanted = {**require_event(self.event).fixed, **self.filters}
        async for raw in shared_stream:
            if event_stream.is_round_end(raw) or not row_matches(wanted, raw):
                continue
            # Yielded before the next row is pulled: Airflow ties the stored event to this row.
            yield TriggerEvent(raw)  # type: ignore[no-untyped-call]

    # --- Airflow 3.0 to 3.2 (and a 3.3 triggerer's trigger run alone) ------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from votel_airflow.hooks.votel import VotelAsyncHook

        source = require_event(self.event)
        await log_aside(
            self.log,
            logging.INFO,
            "Polling %s events alone: each is recorded as delivered %g s after it is yielded, so a "
            "triggerer lost in that window delivers it again (at least once; exactly once needs "
            "Airflow 3.3's shared streams)",
            self.event,
            EVENT_CURSOR_SETTLE_SECONDS,
        )
        accessors = getattr(self, "asset_state_store", None)
        store, cursor = await event_cursor.open_store(accessors, self.cursor_key)
        if cursor is None:
            cursor = event_reads.fresh_cursor(source, datetime.now(timezone.utc))
            await log_aside(
                self.log,
                logging.INFO,
                "No %s cursor in %s yet: delivering events from %s",
                self.event,
                store.where,
                cursor["stamp"],
            )
            await self._save(store, cursor)
        else:
            await log_aside(
                self.log,
                logging.INFO,
                "Resuming %s events after %s (cursor in %s)",
                self.event,
                cursor["stamp"],
                store.where,
            )
        self._saved = cursor
        # Cursors of rounds whose events were yielded, each with when: saved once settled.
        self._unsettled: list[tuple[float, dict[str, Any]]] = []
        async with VotelAsyncHook(self.votel_conn_id) as hook:
            while True:
                try:
                    rows, since = await event_reads.read_events(
                        hook, source, self.filters, cursor, datetime.now(timezone.utc)
                    )
                except TRANSIENT as exc:
                    await log_aside(
                        self.log,
                        logging.WARNING,
                        "Polling %s events failed, will poll again: %s",
                        self.event,
                        exc,
                    )
                else:
                    for row in rows:
                        yield TriggerEvent(row)  # type: ignore[no-untyped-call]
                        cursor = event_reads.advanced(cursor, row, source)
                    cursor = {**cursor, "since": since}
                    self._unsettled.append((time.monotonic(), cursor))
                await self._pause(store)

    async def _pause(self, store: event_cursor.CursorStore) -> None:
        """Sleep one poll interval, saving each round's cursor as soon as it has settled."""
        wake = time.monotonic() + self.poll_interval
        while True:
            now = time.monotonic()
            settled = [c for t, c in self._unsettled if now - t >= EVENT_CURSOR_SETTLE_SECONDS]
            if settled:
                self._unsettled = self._unsettled[len(settled) :]
                if settled[-1] != self._saved:
                    self._saved = settled[-1]
                    await self._save(store, self._saved)
            if now >= wake:
                return
            due = [t + EVENT_CURSOR_SETTLE_SECONDS for t, _ in self._unsettled]
            await asyncio.sleep(max(0.0, min([wake, *due]) - now))

    async def _save(self, store: event_cursor.CursorStore, cursor: dict[str, Any]) -> None:
        try:
            await store.save(cursor)
        except Exception as exc:
            await log_aside(
                self.log, logging.ERROR, "Cannot record the %s cursor in %s: %s", self.event, store.where, exc
            )
