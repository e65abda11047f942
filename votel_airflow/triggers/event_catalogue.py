"""The Votel events an Asset watcher can wait for: where each is read, and the filters it takes.

The one home of the event vocabulary: :class:`~votel_airflow.triggers.events.VotelEventTrigger`
checks its arguments against :data:`EVENTS` while a DAG is parsed, and
:mod:`~votel_airflow.triggers.event_reads` reads each event from the listing named here. This
module imports nothing heavy, so a DAG file pays nothing for it.

Each event is a row of a listing of the contract, told apart from the rows already delivered by
its *stamp* (a timestamp field of the row) and its ``id``:

* ``message.inbound``: ``GET /activity/messaging-logs`` with ``direction=inbound``, by
  ``created_at``; filter ``channel`` (sms, email or whatsapp).
* ``call.ended``: ``GET /activity/call-logs`` (ended calls only), by ``ended_at``: a call appears
  there when it ends, under the time it was *created*, so its reads start at the oldest call still
  in flight (see :mod:`~votel_airflow.triggers.event_reads`); filters ``agent_id`` and ``status``
  (one final status or a list of them).
* ``booking.created``: ``GET /bookings``, by ``created_at``.
* ``contact.created``: ``GET /contacts?updated_since=``, by ``created_at`` (the contract orders
  no contact listing, so every page of the window is read).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from votel_airflow import endpoints
from votel_airflow.validation import fail, require_choice, require_id

#: A call's final statuses (``GET /activity/calls/{call_id}``).
FINAL_CALL_STATUSES = ("completed", "failed", "no_answer", "busy", "canceled")
MESSAGE_CHANNELS = ("sms", "email", "whatsapp")


def _one_or_more(choices: tuple[str, ...]) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if isinstance(value, str):
            return require_choice(name, value, choices)
        if isinstance(value, list | tuple) and value:
            return sorted({require_choice(name, item, choices) for item in value})
        raise fail(
            name, value, f"must be one of {list(choices)} or a non-empty list of them", "Fix the filter."
        )

    return check


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], Any]:
    return lambda name, value: require_choice(name, value, choices)


@dataclass(frozen=True)
class EventSource:
    """Where one event is read and how its rows are told apart.

    :param path: the listing of the contract.
    :param fixed: query parameters every read sends (``direction=inbound``).
    :param filters: the filters a watcher may give, each with its check.
    :param stamp: the row's field that orders the events.
    :param window: ``since`` (a log window, ordered by ``created_at``), ``updated_since`` (no
        order promised) or ``calls`` (ended calls, read from the oldest call in flight).
    """

    path: str
    fixed: Mapping[str, str] = field(default_factory=dict)
    filters: Mapping[str, Callable[[str, Any], Any]] = field(default_factory=dict)
    stamp: str = "created_at"
    window: str = "since"


EVENTS: dict[str, EventSource] = {
    "message.inbound": EventSource(
        endpoints.MESSAGING_LOGS, {"direction": "inbound"}, {"channel": _choice(MESSAGE_CHANNELS)}
    ),
    "call.ended": EventSource(
        endpoints.CALL_LOGS,
        filters={"agent_id": require_id, "status": _one_or_more(FINAL_CALL_STATUSES)},
        stamp="ended_at",
        window="calls",
    ),
    "booking.created": EventSource(endpoints.BOOKINGS),
    "contact.created": EventSource(endpoints.CONTACTS, window="updated_since"),
}


def require_event(value: Any) -> EventSource:
    """The source of a known event name."""
    return EVENTS[require_choice("event", value, EVENTS)]


def require_filters(event: str, filters: Any) -> dict[str, Any]:
    """The filters of ``event``, checked, as a dict sorted by name (a stable serialized form)."""
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise fail(
            "filters", filters, "must be a dict of filter name to value", "Give e.g. {'channel': 'sms'}."
        )
    allowed = EVENTS[event].filters
    checked: dict[str, Any] = {}
    for name in sorted(filters):
        if name not in allowed:
            names = sorted(allowed) or "none"
            raise fail(
                f"filters[{name!r}]", filters[name], f"is not a filter of {event!r}", f"Its filters: {names}."
            )
        checked[name] = allowed[name](f"filters[{name!r}]", filters[name])
    return checked


def row_matches(filters: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    """Whether a row passes every filter (checked here too: a server may ignore a query filter)."""
    for name, wanted in filters.items():
        value = row.get(name)
        if value != wanted and not (isinstance(wanted, list) and value in wanted):
            return False
    return True
