"""What the policy reads from Votel: consent flags on contacts, STOP replies, recent sends.

Each read is one listing paged at the contract's largest page size, so its cost grows with the
contacts and log rows read, never with the number of recipients. The log windows are read on the
wall clock, since that is the clock the API stamps rows with (the policy's own clock, fixed in
tests, decides only the time of day; :func:`votel_airflow.delivery.local_time.policy_now`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, TypeVar

from votel_airflow import endpoints
from votel_airflow.defaults import (
    IN_FLIGHT_CALL_STATUSES,
    RATE_LIMITED_READ_ROUNDS,
    START_KEYWORDS,
    STOP_KEYWORDS,
)
from votel_airflow.exceptions import VotelRateLimitError
from votel_airflow.validation import api_instant

_T = TypeVar("_T")
#: Rows stamped a little after "now" (the API's clock ahead of ours) still count.
CLOCK_SKEW = timedelta(minutes=5)


class Reader(Protocol):
    """What the reads need of a hook (:class:`~votel_airflow.hooks.votel.VotelHook` has it)."""

    def paginate(self, path: str, *, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Yield every record of a list endpoint."""
        ...  # pragma: no cover


def patiently(read: Callable[[], _T]) -> _T:
    """Run ``read`` again (whole) when the API still answers 429 after the hook's own retries.

    These reads come before a send's first side effect and change nothing, and a 429 says the
    request had no effect: waiting longer delays the send, while giving up would fail it over
    traffic the send itself is about to make. Bounded: :data:`RATE_LIMITED_READ_ROUNDS` rounds.
    """
    for _ in range(RATE_LIMITED_READ_ROUNDS - 1):
        try:
            return read()
        except VotelRateLimitError:
            continue
    return read()


def identity(recipient: str) -> str:
    """How a recipient is matched across contacts, logs and lists: numbers as given, e-mail lower-cased."""
    text = recipient.strip()
    return text.lower() if "@" in text else text


@dataclass
class ContactFacts:
    """What the contacts say about the recipients of one channel.

    :param opted_out: identities (contact ids, numbers and addresses) of contacts with ``dnd`` or
        the channel in ``dnd_channels``.
    :param zones: identity -> the contact's IANA ``timezone``, where set.
    :param addresses: contact id -> ``(phone, e-mail)``, for recipients named by contact id.
    """

    opted_out: set[str] = field(default_factory=set)
    zones: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


def read_contacts(reader: Reader, channel: str, *, with_zones: bool) -> ContactFacts:
    """Consent flags (and, with ``with_zones``, zones and each contact's addresses) from one paged
    listing of the contacts.

    Without zones only the contacts with a flag are listed (``dnd=true``); with them every contact
    is, as a zone can be set on anyone.
    """
    facts = ContactFacts()
    params = None if with_zones else {"dnd": "true"}
    for contact in reader.paginate(endpoints.CONTACTS, params=params):
        phone, email = (identity(str(v)) if v else None for v in (contact.get("phone"), contact.get("email")))
        ids = [v for v in (phone, email) if v]
        if contact.get("id"):
            ids.append(str(contact["id"]))
            if with_zones:
                facts.addresses[str(contact["id"])] = (phone, email)
        if contact.get("dnd") is True or channel in (contact.get("dnd_channels") or ()):
            facts.opted_out.update(ids)
        zone = contact.get("timezone")
        if with_zones and isinstance(zone, str) and zone:
            facts.zones.update(dict.fromkeys(ids, zone))
    return facts


def _window(seconds: float) -> dict[str, str]:
    now = datetime.now(timezone.utc)
    since = now - timedelta(seconds=seconds)
    return {"since": since.isoformat(), "until": (now + CLOCK_SKEW).isoformat()}


def stopped_numbers(reader: Reader, lookback: float) -> set[str]:
    """Numbers whose latest keyword reply by SMS in the last ``lookback`` seconds opts them out.

    A reply is a keyword when its trimmed body, in any case, is one of
    :data:`~votel_airflow.defaults.STOP_KEYWORDS` or :data:`~votel_airflow.defaults.START_KEYWORDS`;
    any other text changes nothing.
    """
    latest: dict[str, tuple[datetime, bool]] = {}
    params = {**_window(lookback), "direction": "inbound", "channel": "sms"}
    for row in reader.paginate(endpoints.MESSAGING_LOGS, params=params):
        word = str(row.get("body") or "").strip().upper()
        if word not in STOP_KEYWORDS and word not in START_KEYWORDS:
            continue
        number, at = row.get("from"), api_instant(row.get("created_at"))
        if not number or at is None:
            continue
        key = identity(str(number))
        # ">=": of two replies stamped alike the later row wins (the log lists oldest first).
        if key not in latest or at >= latest[key][0]:
            latest[key] = (at, word in STOP_KEYWORDS)
    return {number for number, (_, stopped) in latest.items() if stopped}


def sends_per_recipient(reader: Reader, channel: str, period: float) -> Counter[str]:
    """Outbound messages on ``channel`` per recipient over the last ``period`` seconds, from every
    DAG and the Votel app alike (the messaging log holds them all; calls: the call log)."""
    if channel == "call":
        return calls_per_recipient(reader, period)
    params = {**_window(period), "direction": "outbound", "channel": channel}
    counts: Counter[str] = Counter()
    for row in reader.paginate(endpoints.MESSAGING_LOGS, params=params):
        if row.get("to"):
            counts[identity(str(row["to"]))] += 1
        if row.get("contact_id"):
            # Also under the contact, for thread messages, which name their recipients by id.
            counts[str(row["contact_id"])] += 1
    return counts


def calls_per_recipient(reader: Reader, period: float) -> Counter[str]:
    """Outbound calls per number (and per contact) started over the last ``period`` seconds.

    The messaging log holds SMS, e-mail and WhatsApp only; calls are in the call log, which lists a
    call once it has ended. The calls still going are listed too, one listing per in-flight status
    (as the kill switch reads them), so a call ringing now counts against the cap; a call seen in
    two listings (it ended between them) counts once.
    """
    window = _window(period)
    listings = [window, *({**window, "status": status} for status in IN_FLIGHT_CALL_STATUSES)]
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    for params in listings:
        for row in reader.paginate(endpoints.CALL_LOGS, params=params):
            call_id = str(row.get("id") or "")
            if (call_id and call_id in seen) or row.get("direction", "outbound") != "outbound":
                continue
            seen.add(call_id)
            if row.get("to"):
                counts[identity(str(row["to"]))] += 1
            if row.get("contact_id"):
                counts[str(row["contact_id"])] += 1
    return counts
