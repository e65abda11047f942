"""Side effects whose outcome is unknown, on a server that may ignore ``Idempotency-Key``.

The contract says a repeated ``Idempotency-Key`` returns the first answer and does nothing again;
the public Votel introduction does not promise it. The connection extra ``server_idempotency``
says which world we are in:

* ``true`` (default, the contract): a send that failed ambiguously (a timeout, a connection lost
  after sending, a 5xx) is retried with the same key, by the hook and by a task retry;
* ``false``: such a send is never sent again. The recipient is recorded as *ambiguous* in the
  task's progress (so no task retry sends it either), looked up in the messaging log where the
  API allows it (*reconciled*), and reported. Each batch of sends is also recorded as *pending*
  before it leaves, so a worker killed mid-request leaves its in-flight recipients ambiguous
  rather than sent twice.

This module holds what the senders share about it: the progress markers, the mode's log line,
the reconciliation against ``GET /activity/messaging-logs`` and the final error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pendulum

from votel_airflow import endpoints

# The on_ambiguous choices live in defaults.py (operators check them at parse time); named here too.
from votel_airflow.defaults import ON_AMBIGUOUS as ON_AMBIGUOUS
from votel_airflow.exceptions import VotelAmbiguousRecipientsError

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelHook

#: Ambiguous recipients listed by name in a summary (the count is always exact).
MAX_AMBIGUOUS_LISTED = 100
#: Progress markers (values of the task's progress map that are not results).
AMBIGUOUS = "ambiguous"
PENDING = "pending"
UNSENT = "unsent"
#: Seconds of clock difference between worker and API allowed for in the reconciliation window.
CLOCK_LEEWAY = 5.0
log = logging.getLogger(__name__)


def marker(value: Any) -> str | None:
    """Which marker a progress value is (:data:`AMBIGUOUS`, :data:`PENDING`, :data:`UNSENT`), if any."""
    if isinstance(value, Mapping):
        for name in (AMBIGUOUS, PENDING, UNSENT):
            if name in value:
                return name
    return None


def ambiguous(reason: str, at: float) -> dict[str, Any]:
    """The progress value of a recipient whose send may or may not have taken effect."""
    return {AMBIGUOUS: reason, "at": at}


def pending(at: float) -> dict[str, Any]:
    """The progress value of a recipient whose request is about to leave (write-ahead)."""
    return {PENDING: True, "at": at}


def unsent(reason: str) -> dict[str, Any]:
    """The progress value of a recipient whose request surely had no effect: send it again."""
    return {UNSENT: reason}


def log_mode(hook: VotelHook, what: str) -> bool:
    """Say which mode the connection runs in; returns ``server_idempotency``."""
    trusted = hook.settings.server_idempotency
    if trusted:
        log.info(
            "%s: server_idempotency=true: every send carries an Idempotency-Key and a send that fails "
            "ambiguously (timeout, lost connection, 5xx) is retried with the same key",
            what,
        )
    else:
        log.warning(
            "%s: server_idempotency=false: a send that fails ambiguously (timeout, lost connection, "
            "5xx) is never sent again; it is reconciled from the messaging log or reported as ambiguous",
            what,
        )
    return trusted


def window_start(values: Iterable[Mapping[str, Any]], timeout: float) -> float:
    """The earliest moment an ambiguous request can have been carried out (POSIX seconds)."""
    return min(float(v.get("at") or time.time()) for v in values) - timeout - CLOCK_LEEWAY


def reconcile_messages(
    hook: VotelHook, requests: Mapping[str, Mapping[str, Any]], since: float
) -> dict[str, str]:
    """Find ambiguous sends in the messaging log: ``{recipient key: message id}`` of those found.

    Outbound messages of ``[since, now]`` are read page by page and matched on the address
    (``to``, or the contact and channel of a thread message) and, when the request had one, the
    exact body; each logged message matches one recipient at most. A recipient not found stays
    ambiguous: a log can lag, so absence proves nothing and nothing is sent again.

    :param hook: the hook (its connection's account).
    :param requests: each ambiguous recipient's request body, by recipient key.
    :param since: window start, POSIX seconds (see :func:`window_start`).
    """
    wanted: dict[tuple[str, str, str | None], list[str]] = {}
    for key, body in requests.items():
        wanted.setdefault(_match_key(body), []).append(key)
    found: dict[str, str] = {}
    params = {
        "since": pendulum.from_timestamp(since).isoformat(),
        "until": pendulum.now("UTC").add(seconds=CLOCK_LEEWAY).isoformat(),
        "direction": "outbound",
    }
    for row in hook.paginate(endpoints.MESSAGING_LOGS, params=params):
        if not wanted:
            break
        for probe in _row_keys(row):
            keys = wanted.get(probe)
            if keys and isinstance(row.get("id"), str):
                found[keys.pop(0)] = row["id"]
                if not keys:
                    del wanted[probe]
                break
    return found


def _match_key(body: Mapping[str, Any]) -> tuple[str, str, str | None]:
    text = body.get("body")
    text = text if isinstance(text, str) else None
    if "to" in body:
        return ("to", str(body["to"]), text)
    return ("contact", f"{body.get('contact_id')}/{body.get('channel')}", text)


def _row_keys(row: Mapping[str, Any]) -> list[tuple[str, str, str | None]]:
    body = row.get("body") if isinstance(row.get("body"), str) else None
    to = str(row.get("to"))
    contact = f"{row.get('contact_id')}/{row.get('channel')}"
    return [("to", to, body), ("to", to, None), ("contact", contact, body), ("contact", contact, None)]


def ambiguous_error(name: str, keys: list[str], total: int, done: int) -> VotelAmbiguousRecipientsError:
    """The failure of a task that ends with ambiguous recipients and ``on_ambiguous="fail"``."""
    shown = keys[:20]
    more = f" (and {len(keys) - len(shown)} more)" if len(keys) > len(shown) else ""
    return VotelAmbiguousRecipientsError(
        f"{name}: {len(keys)} of {total} sends failed ambiguously and may or may not have reached "
        f"{shown}{more}; {done} others are done. They are never sent again automatically (the "
        "connection says the server ignores Idempotency-Key). Check them in the Votel app, or pass "
        "on_ambiguous='skip' to succeed and report them."
    )
