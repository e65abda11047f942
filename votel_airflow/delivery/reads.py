"""What the policy reads from Votel: consent flags on contacts, STOP replies, recent sends.

A large send reads each as one listing paged at the contract's largest page size, so its cost
grows with the contacts and log rows read, never with the number of recipients. A send to a few
(at most :data:`~votel_airflow.defaults.MAX_RECIPIENTS_LOOKED_UP`) looks each recipient up
instead, so its cost grows with the recipients, not with the CRM: one contact search each (a
contact id: one read of that contact, ``GET /contacts/{contact_id}``) and, for a frequency cap,
one read of each one's messages (``contact_id``). The STOP replies are always listed: a reply
from a number that was no contact yet carries no ``contact_id``, and an opt-out is never traded
for a request. The log windows are read on the wall clock, since that
is the clock the API stamps rows with (the policy's own clock, fixed in tests, decides only the
time of day; :func:`votel_airflow.delivery.local_time.policy_now`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, TypeVar

from votel_airflow import endpoints
from votel_airflow.defaults import (
    IN_FLIGHT_CALL_STATUSES,
    MAX_RECIPIENTS_LOOKED_UP,
    RATE_LIMITED_READ_ROUNDS,
    START_KEYWORDS,
    STOP_KEYWORDS,
)
from votel_airflow.exceptions import VotelNotFoundError, VotelRateLimitError
from votel_airflow.validation import api_instant

_T = TypeVar("_T")
#: Rows stamped a little after "now" (the API's clock ahead of ours) still count.
CLOCK_SKEW = timedelta(minutes=5)


class Reader(Protocol):
    """What the reads need of a hook (:class:`~votel_airflow.hooks.votel.VotelHook` has it)."""

    def paginate(self, path: str, *, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Yield every record of a list endpoint."""
        ...  # pragma: no cover

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """``GET`` one object (a contact by id) under the hook's request policy."""
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
    :param looked_up: recipient identity -> its contact's id, when each recipient was looked up
        rather than listed (a recipient without a contact is absent); None after a listing.
    """

    opted_out: set[str] = field(default_factory=set)
    zones: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    looked_up: dict[str, str] | None = None

    def note(self, contact: Mapping[str, Any], channel: str, *, with_zones: bool) -> None:
        """Record one contact's flags (and zone and addresses)."""
        phone, email = addresses_of(contact)
        ids = [v for v in (phone, email) if v]
        if contact.get("id"):
            ids.append(str(contact["id"]))
            if with_zones:
                self.addresses[str(contact["id"])] = (phone, email)
        if contact.get("dnd") is True or channel in (contact.get("dnd_channels") or ()):
            self.opted_out.update(ids)
        zone = contact.get("timezone")
        if with_zones and isinstance(zone, str) and zone:
            self.zones.update(dict.fromkeys(ids, zone))


def addresses_of(contact: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """A contact's phone and e-mail as identities (None where unset)."""
    phone, email = contact.get("phone"), contact.get("email")
    return (identity(str(phone)) if phone else None, identity(str(email)) if email else None)


def read_contacts(reader: Reader, channel: str, *, with_zones: bool) -> ContactFacts:
    """Consent flags (and, with ``with_zones``, zones and each contact's addresses) from one paged
    listing of the contacts.

    Without zones only the contacts with a flag are listed (``dnd=true``); with them every contact
    is, as a zone can be set on anyone.
    """
    facts = ContactFacts()
    params = None if with_zones else {"dnd": "true"}
    for contact in reader.paginate(endpoints.CONTACTS, params=params):
        facts.note(contact, channel, with_zones=with_zones)
    return facts


def look_up_contacts(reader: Reader, recipients: Iterable[str], channel: str) -> ContactFacts:
    """Consent flags, zones and addresses of these recipients (numbers or e-mail addresses) only:
    one contact search each (``search``), keeping the contact whose phone or e-mail is the
    recipient (a search also matches names and parts of numbers)."""
    found: dict[str, str] = {}
    facts = ContactFacts(looked_up=found)
    for recipient in dict.fromkeys(identity(r) for r in recipients):
        for contact in reader.paginate(endpoints.CONTACTS, params={"search": recipient}):
            if recipient in addresses_of(contact) and contact.get("id"):
                facts.note(contact, channel, with_zones=True)
                found[recipient] = str(contact["id"])
    return facts


def read_contacts_by_id(reader: Reader, contact_ids: Iterable[str], channel: str) -> ContactFacts:
    """Consent flags, zones and addresses of these contacts only: one ``GET /contacts/{id}`` each.

    A 404 says there is no such contact: the id is left out, as a listing would leave it out, and
    the send goes on to the API, which refuses it; the sender reports that with its other refusals.
    """
    found: dict[str, str] = {}
    facts = ContactFacts(looked_up=found)
    for contact_id in dict.fromkeys(identity(c) for c in contact_ids):
        try:
            contact = reader.get(endpoints.path(endpoints.CONTACT, contact_id=contact_id))
        except VotelNotFoundError:
            continue
        if isinstance(contact, Mapping) and contact.get("id"):
            facts.note(contact, channel, with_zones=True)
            found[contact_id] = str(contact["id"])
    return facts


def contact_facts(
    reader: Reader, recipients: Sequence[str], channel: str, *, with_zones: bool, by_contact: bool
) -> ContactFacts:
    """What the contacts say about ``recipients``: each looked up when they are few
    (:func:`look_up_contacts` by number or address, :func:`read_contacts_by_id` by contact id),
    else one listing (:func:`read_contacts`).

    :param by_contact: the recipients are contact ids (thread messages, enrollments).
    """
    if len(recipients) <= MAX_RECIPIENTS_LOOKED_UP:
        if by_contact:
            return read_contacts_by_id(reader, recipients, channel)
        return look_up_contacts(reader, recipients, channel)
    return read_contacts(reader, channel, with_zones=with_zones or by_contact)


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
    return _count_sends(reader.paginate(endpoints.MESSAGING_LOGS, params=params))


def sends_to_contacts(
    reader: Reader, contact_ids: Iterable[str], channel: str, period: float
) -> Counter[str]:
    """:func:`sends_per_recipient`, reading only the messages of these contacts (``contact_id``):
    one read each."""
    window = {**_window(period), "direction": "outbound", "channel": channel}
    counts: Counter[str] = Counter()
    for contact_id in dict.fromkeys(contact_ids):
        params = {**window, "contact_id": contact_id}
        counts += _count_sends(reader.paginate(endpoints.MESSAGING_LOGS, params=params))
    return counts


def recent_sends(
    reader: Reader, recipients: Sequence[str], facts: ContactFacts, channel: str, period: float
) -> Counter[str]:
    """Outbound messages per recipient over ``period``: read contact by contact when every
    recipient was looked up and is a contact (:func:`sends_to_contacts`), else one listing.

    A recipient without a contact cannot be read by ``contact_id`` (its messages carry none), so
    one such recipient makes the whole read a listing. A message logged to a number before it was
    a contact's is not counted by the contact read; the cap is a courtesy limit, and reading the
    whole log for a few recipients is what this spares.
    """
    looked_up = facts.looked_up
    # Calls are counted from the call log, which has no per-contact read.
    if channel != "call" and looked_up is not None and all(identity(r) in looked_up for r in recipients):
        return sends_to_contacts(reader, [looked_up[identity(r)] for r in recipients], channel, period)
    return sends_per_recipient(reader, channel, period)


def _count_sends(rows: Iterator[dict[str, Any]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for row in rows:
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
