"""How one shared round reads many objects of a kind at once, for :mod:`.shared_poll`.

A reader only fetches: it answers each id with the object the API would return for it (or the
error its own request raised), and the waits' conditions judge those objects exactly as they judge
their own GETs. What the contract offers decides what can be read in bulk:

* **call**: ``GET /activity/call-logs`` filtered on ``status`` ``queued``, ``ringing`` or
  ``in_progress`` lists the calls in flight as they stand now (one paged read each), and without a
  status it lists the ended calls by ``created_at``: read over the window of ``created_at`` of the
  calls that left the in-flight lists, it tells how each of them ended. A call neither read shows
  (one that ended before its wait started, one the listing does not show) gets its own
  ``GET /activity/calls/{id}``, as before.
* Every other kind (message delivery, contact import and export jobs, campaigns) has no listing
  in the contract that filters by id or status, so their waits keep one request each; a workflow
  enrollment wait already reads enrollment lists itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from datetime import timedelta
from typing import Any

from votel_airflow import endpoints
from votel_airflow.defaults import IN_FLIGHT_CALL_STATUSES, MAX_PAGE_SIZE
from votel_airflow.exceptions import VotelError, VotelRateLimitError, VotelServerError
from votel_airflow.hooks import paging
from votel_airflow.hooks.votel import VotelAsyncHook
from votel_airflow.validation import api_instant

#: ``{object id: the object, or the exception its read raised}``.
Answers = dict[str, Any]
#: What a reader keeps between rounds about each id (for calls: its ``created_at``).
Memo = MutableMapping[str, str]
Reader = Callable[[VotelAsyncHook, Collection[str], Memo], Awaitable[Answers]]

#: Failures of a shared read that must reach every wait (and slow the shared poll), never be
#: turned into one request per wait.
TRANSIENT = (VotelServerError, VotelRateLimitError)


async def read_listing(
    hook: VotelAsyncHook, path: str, params: Mapping[str, Any], wanted: Collection[str], answers: Answers
) -> None:
    """Page through a listing, keeping the rows whose ``id`` is wanted; stop once all are found.

    Pages follow ``created_at`` (the next starts at the last row's time) rather than a growing
    offset: calls leave the in-flight lists oldest first while they are read, and an offset would
    then skip as many rows as had left. Rows read twice at the boundary are the same rows.
    """
    missing = set(wanted) - set(answers)
    since, offset = params.get("since"), 0
    while missing:
        query = {**params, "since": since, "limit": MAX_PAGE_SIZE, "offset": offset}
        page = await hook.get(path, {k: v for k, v in query.items() if v is not None})
        if not isinstance(page, list):
            raise paging.not_a_list(path, page)
        for row in page:
            row_id = str(row.get("id")) if isinstance(row, Mapping) else None
            if row_id in missing:
                answers[row_id] = row
                missing.discard(row_id)
        if len(page) < MAX_PAGE_SIZE:
            return
        first, last = (
            row.get("created_at") if isinstance(row, Mapping) else None for row in (page[0], page[-1])
        )
        if isinstance(last, str) and last != first:
            since, offset = last, 0
        else:
            # A whole page created at one instant (or rows without a time): step by offset.
            offset += len(page)


async def read_each(hook: VotelAsyncHook, template: str, name: str, ids: Collection[str]) -> Answers:
    """One ``GET`` per id (the fallback); each answer is the object or the error it raised."""

    async def one(object_id: str) -> Any:
        try:
            return await hook.get(endpoints.path(template, **{name: object_id}))
        except Exception as exc:
            return exc

    ordered = sorted(ids)
    return dict(zip(ordered, await asyncio.gather(*(one(i) for i in ordered)), strict=True))


def _just_after(stamp: str) -> str | None:
    """An ISO time one microsecond after ``stamp`` (an exclusive ``until``), or None if unreadable."""
    moment = api_instant(stamp)
    return None if moment is None else (moment + timedelta(microseconds=1)).isoformat()


async def read_calls(hook: VotelAsyncHook, ids: Collection[str], memo: Memo) -> Answers:
    """The calls ``ids`` as they stand now, from the call listings, each unseen one by its own GET."""
    answers: Answers = {}
    try:
        for status in IN_FLIGHT_CALL_STATUSES:
            await read_listing(hook, endpoints.CALL_LOGS, {"status": status}, ids, answers)
        # Ended since the last round: read the ended calls over just the window they were created
        # in (the listing is ordered by created_at), not the account's whole history.
        ended = [i for i in ids if i not in answers and i in memo]
        if ended:
            window: dict[str, Any] = {"since": min(memo[i] for i in ended)}
            until = _just_after(max(memo[i] for i in ended))
            if until is not None:
                window["until"] = until
            found: Answers = {}
            await read_listing(hook, endpoints.CALL_LOGS, window, ended, found)
            answers.update(found)
    except TRANSIENT:
        raise
    except VotelError:
        # The listing refused (a server without these filters): every wait asks for itself.
        answers.clear()
    unseen = [i for i in ids if i not in answers]
    answers.update(await read_each(hook, endpoints.CALL, "call_id", unseen))
    for object_id, answer in answers.items():
        if isinstance(answer, Mapping) and isinstance(answer.get("created_at"), str):
            memo[object_id] = answer["created_at"]
    return answers


#: The kinds a shared read can serve, by the name a condition gives in ``shared_read()``.
READERS: dict[str, Reader] = {"call": read_calls}
