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
the reconciliation against ``GET /activity/messaging-logs`` and the final errors. The hook verbs
use it too (they write ahead the same way), so it takes a hook by what it uses of one
(:class:`LogReader`) and imports none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

import pendulum

from votel_airflow import endpoints

# The on_ambiguous choices live in defaults.py (operators check them at parse time); named here too.
from votel_airflow.defaults import ON_AMBIGUOUS as ON_AMBIGUOUS
from votel_airflow.exceptions import VotelAmbiguousRecipientsError, VotelOutcomeUnknownError
from votel_airflow.validation import api_instant

#: Ambiguous recipients listed by name in a summary (the count is always exact).
MAX_AMBIGUOUS_LISTED = 100
#: Progress markers (values of the task's progress map that are not results).
AMBIGUOUS = "ambiguous"
PENDING = "pending"
UNSENT = "unsent"
#: Seconds of clock difference between worker and API allowed for in the reconciliation window.
CLOCK_LEEWAY = 5.0
#: What opens a placeholder the API fills from ``variables`` (``{{name}}``).
PLACEHOLDER = "{{"
log = logging.getLogger(__name__)


class _Mode(Protocol):
    @property
    def server_idempotency(self) -> bool: ...


class LogReader(Protocol):
    """What this module needs of a hook (:class:`~votel_airflow.hooks.votel.VotelHook` has it):
    typed here rather than imported, since the hook verbs, which a hook inherits, use this module."""

    @property
    def settings(self) -> _Mode: ...

    def paginate(self, path: str, *, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]: ...


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


def log_mode(hook: LogReader, what: str) -> bool:
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
    """The earliest moment any of these ambiguous requests can have been carried out (POSIX seconds)."""
    return min(not_before(v, timeout) for v in values)


def not_before(value: Mapping[str, Any], timeout: float) -> float:
    """The earliest moment one ambiguous request can have been carried out (POSIX seconds).

    :param value: the recipient's progress value (its ``at`` is when the attempt was recorded).
    :param timeout: the hook's read timeout: the request can have left that long before.
    """
    return float(value.get("at") or time.time()) - timeout - CLOCK_LEEWAY


def reconcile_messages(
    hook: LogReader,
    requests: Mapping[str, Mapping[str, Any]],
    since: float,
    attempted: Mapping[str, float] | None = None,
) -> dict[str, str]:
    """Find ambiguous sends in the messaging log: ``{recipient key: message id}`` of those found.

    Outbound messages of ``[since, now]`` are read page by page. A logged message is taken for a
    recipient's send only if it is addressed alike (``to``, or the contact and channel of a thread
    message), was logged no earlier than that recipient's attempt could have left (``attempted``),
    and carries what identifies this send: the exact body of an SMS or thread message; the exact
    subject and content of an e-mail. An e-mail whose subject or content the API fills in
    (``variables``, a ``template_id``) is matched on the parts that are sent as they are, and not
    reconciled at all when none is. Each logged message matches one recipient at most. A recipient
    not found stays ambiguous: a log can lag, so absence proves nothing and nothing is sent again.

    :param hook: the hook (its connection's account).
    :param requests: each ambiguous recipient's request body, by recipient key.
    :param since: window start, POSIX seconds (see :func:`window_start`).
    :param attempted: each recipient's own earliest moment (see :func:`not_before`); default
        ``since`` for all.
    """
    wanted: dict[tuple[str, str], list[_Wanted]] = {}
    for key, body in requests.items():
        identity = _identity(body)
        if identity is None:
            continue
        address, fields = identity
        start = (attempted or {}).get(key, since)
        wanted.setdefault(address, []).append(_Wanted(key, fields, start))
    found: dict[str, str] = {}
    params = {
        "since": pendulum.from_timestamp(since).isoformat(),
        "until": pendulum.now("UTC").add(seconds=CLOCK_LEEWAY).isoformat(),
        "direction": "outbound",
    }
    for row in hook.paginate(endpoints.MESSAGING_LOGS, params=params):
        if not wanted:
            break
        logged_at = _timestamp(row.get("created_at"))
        if logged_at is None or not isinstance(row.get("id"), str):
            continue
        for address in _row_addresses(row):
            candidates = wanted.get(address)
            match = next((w for w in candidates or () if w.matches(row, logged_at)), None)
            if match is not None and candidates is not None:
                found[match.key] = row["id"]
                candidates.remove(match)
                if not candidates:
                    del wanted[address]
                break
    return found


class _Wanted:
    """One ambiguous send being looked for: its recipient key, identifying fields, earliest time."""

    __slots__ = ("fields", "key", "start")

    def __init__(self, key: str, fields: Mapping[str, str], start: float) -> None:
        self.key = key
        self.fields = fields
        self.start = start

    def matches(self, row: Mapping[str, Any], logged_at: float) -> bool:
        return logged_at >= self.start and all(row.get(f) == v for f, v in self.fields.items())


def _identity(body: Mapping[str, Any]) -> tuple[tuple[str, str], dict[str, str]] | None:
    """Where a send went and the logged fields that identify it; None if nothing identifies it."""
    if "to" not in body:
        address = ("contact", f"{body.get('contact_id')}/{body.get('channel')}")
    else:
        address = ("to", str(body["to"]))
    if "subject" not in body:
        text = body.get("body")
        return (address, {"body": text}) if isinstance(text, str) else None
    # An e-mail: the log holds the subject and the content the API rendered.
    fields: dict[str, str] = {}
    filled = bool(body.get("variables"))
    subject = body.get("subject")
    if isinstance(subject, str) and not (filled and PLACEHOLDER in subject):
        fields["subject"] = subject
    content = body.get("text") or body.get("html") or body.get("body")
    if isinstance(content, str) and not body.get("template_id") and not (filled and PLACEHOLDER in content):
        fields["body"] = content
    return (address, fields) if fields else None


def _row_addresses(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [("to", str(row.get("to"))), ("contact", f"{row.get('contact_id')}/{row.get('channel')}")]


def _timestamp(value: Any) -> float | None:
    moment = api_instant(value)
    return None if moment is None else moment.timestamp()


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


def in_flight_error(verb: str, recipient: str, why: str) -> VotelOutcomeUnknownError:
    """The refusal of a hook verb whose earlier try wrote its request ahead and never learnt its fate.

    :param verb: the hook verb, e.g. ``send_sms``.
    :param recipient: whom the request was for (masked as the task log masks it).
    :param why: why it cannot be decided here (not in the messaging log, or no log to look in).
    """
    from votel_airflow.compat import redact

    shown = redact(recipient)
    where = "call log" if verb == "start_call" else "messaging log"
    return VotelOutcomeUnknownError(
        f"{verb}() to {shown}: an earlier try of this task stopped while its request may have been in "
        f"flight (or the request failed ambiguously), so {shown} may or may not have been reached; {why}. "
        "Nothing was sent: the connection says the server ignores Idempotency-Key "
        "(server_idempotency=false), so asking again could reach them twice. Look it up in the Votel app "
        f"(the {where}). If it did not arrive, send it under a new idempotency_key; if the server does "
        "honour Idempotency-Key, set server_idempotency to true on the connection."
    )
