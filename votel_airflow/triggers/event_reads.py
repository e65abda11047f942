"""Read the events after a cursor from a listing, for :mod:`~votel_airflow.triggers.events`.

A cursor is a small JSON dict that Airflow stores (:mod:`~votel_airflow.triggers.event_cursor`):

* ``stamp`` and ``id``: the last event delivered; the next events are the rows whose
  ``(stamp, id)`` comes after it (the contract orders log rows by ``(created_at, id)``; ``id`` breaks
  ties between rows of one instant).
* ``since``: where the next read of the listing starts. For most events it is ``stamp``. For
  ``call.ended`` it is older: an ended call is listed under the time it was *created*, so a call that
  ends now may sit anywhere after the oldest call that was still in flight at the last read. Each
  round therefore reads the in-flight lists first (oldest call of each, one row), then the ended
  calls from there on; a call that ends between the two reads is in the second.

The listing is paged by time, not by a growing offset: ended calls appear inside the window while
it is read, and an offset would then skip rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from votel_airflow.defaults import EVENT_CLOCK_MARGIN_SECONDS, IN_FLIGHT_CALL_STATUSES, MAX_PAGE_SIZE
from votel_airflow.hooks import paging
from votel_airflow.triggers.event_catalogue import EventSource, row_matches
from votel_airflow.validation import api_instant

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelAsyncHook

Cursor = dict[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def fresh_cursor(source: EventSource, now: datetime) -> Cursor:
    """Where a watcher with no cursor in Airflow starts: the events from ``now`` on."""
    stamp = now.isoformat()
    since = now - timedelta(seconds=EVENT_CLOCK_MARGIN_SECONDS) if source.window == "calls" else now
    return {"stamp": stamp, "id": "", "since": since.isoformat()}


def _key(stamp: Any, row_id: Any) -> tuple[datetime, str]:
    return (api_instant(stamp) or _EPOCH, str(row_id or ""))


def is_after(cursor: Cursor, row: Mapping[str, Any], stamp_field: str) -> bool:
    """Whether ``row`` comes after the cursor's last delivered event."""
    if api_instant(row.get(stamp_field)) is None:
        return False
    return _key(row.get(stamp_field), row.get("id")) > _key(cursor["stamp"], cursor["id"])


def advanced(cursor: Cursor, row: Mapping[str, Any], source: EventSource) -> Cursor:
    """The cursor once ``row`` is delivered."""
    stamp = row[source.stamp]
    since = cursor["since"] if source.window == "calls" else stamp
    return {"stamp": stamp, "id": str(row["id"]), "since": since}


async def _read_window(
    hook: VotelAsyncHook, path: str, params: Mapping[str, Any], since: str
) -> list[dict[str, Any]]:
    """Every row of a log listing from ``since`` on, paged by ``created_at`` (each row once)."""
    rows: dict[tuple[datetime, str], dict[str, Any]] = {}
    offset = 0
    while True:
        query = {**params, "since": since, "limit": MAX_PAGE_SIZE, "offset": offset}
        page = await hook.get(path, query)
        if not isinstance(page, list):
            raise paging.not_a_list(path, page)
        for row in page:
            if isinstance(row, Mapping):
                rows[_key(row.get("created_at"), row.get("id"))] = dict(row)
        if len(page) < MAX_PAGE_SIZE:
            return list(rows.values())
        first, last = page[0].get("created_at"), page[-1].get("created_at")
        if isinstance(last, str) and last != first:
            since, offset = last, 0
        else:
            # A whole page created at one instant: step by offset within it.
            offset += len(page)


async def _oldest_in_flight(hook: VotelAsyncHook, path: str, params: Mapping[str, Any]) -> datetime | None:
    oldest: datetime | None = None
    for status in IN_FLIGHT_CALL_STATUSES:
        page = await hook.get(path, {**params, "status": status, "limit": 1, "offset": 0})
        if not isinstance(page, list):
            raise paging.not_a_list(path, page)
        for row in page:
            created = api_instant(row.get("created_at")) if isinstance(row, Mapping) else None
            if created is not None and (oldest is None or created < oldest):
                oldest = created
    return oldest


async def read_events(
    hook: VotelAsyncHook, source: EventSource, filters: Mapping[str, Any], cursor: Cursor, now: datetime
) -> tuple[list[dict[str, Any]], str]:
    """The events after ``cursor`` in delivery order, and where the next read should start.

    :param now: the triggerer's time when the round began (``call.ended`` only: with no call in
        flight, the next read starts :data:`~votel_airflow.defaults.EVENT_CLOCK_MARGIN_SECONDS`
        before it).
    """
    params: dict[str, Any] = dict(source.fixed)
    # Single values go to the server as filters; a list is checked here only.
    params.update({k: v for k, v in filters.items() if isinstance(v, str)})
    next_since = cursor["since"]
    if source.window == "calls":
        scope = {"agent_id": params["agent_id"]} if "agent_id" in params else {}
        oldest = await _oldest_in_flight(hook, source.path, scope)
        bound = now - timedelta(seconds=EVENT_CLOCK_MARGIN_SECONDS)
        next_since = min(bound, oldest or bound).isoformat()
        rows = await _read_window(hook, source.path, params, cursor["since"])
    elif source.window == "updated_since":
        rows = await hook.get_all_pages(source.path, {**params, "updated_since": cursor["since"]})
    else:
        rows = await _read_window(hook, source.path, params, cursor["since"])
    wanted = {**source.fixed, **filters}
    fresh = [r for r in rows if is_after(cursor, r, source.stamp) and row_matches(wanted, r)]
    fresh.sort(key=lambda r: _key(r.get(source.stamp), r.get("id")))
    if fresh and source.window != "calls":
        next_since = fresh[-1][source.stamp]
    return fresh, next_since
