"""Contacts and messaging-log rows in bulk, for tests and benchmarks of the outreach policy.

A CRM of 100,000 contacts and a day of 200,000 messages cannot be made through the public API in
a benchmark's time (one request each, at the rate limit). These insert them straight into the
store, deterministically: the same request gives the same rows.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from itertools import islice
from typing import Any

from votel_airflow.sandbox import contacts_db
from votel_airflow.sandbox.bulk import _StampText, _uuid7
from votel_airflow.sandbox.ids import seeded_id
from votel_airflow.sandbox.messaging import OUR_EMAIL
from votel_airflow.sandbox.store import Tx

KIND = "message"
_BATCH = 20_000
#: Zones set on contacts by ``n % 10`` (three in ten; the others have none: their number decides).
ZONES = {0: "America/New_York", 1: "Europe/Paris", 2: "America/Los_Angeles"}
#: Every ``DND_EVERY``-th contact has ``dnd``; every ``SMS_DND_EVERY``-th refuses SMS only.
DND_EVERY = 97
SMS_DND_EVERY = 89


def generated_phone(n: int) -> str:
    """The ``n``-th generated contact's number: San Francisco, exchanges 200 and up (in the plan,
    one zone), so its zone is known from the number alone."""
    return f"+1415{2_000_000 + n:07d}"


def generated_email(n: int) -> str:
    return f"lead{n}@example.com"


def insert_contacts(tx: Tx, account_id: str, start: int, count: int, created_at: str) -> int:
    """Contacts ``start`` to ``start + count - 1``: phone :func:`generated_phone`, e-mail
    :func:`generated_email`, and a mix of consent (:data:`DND_EVERY`, :data:`SMS_DND_EVERY`) and
    zones (:data:`ZONES`). Numbers already taken in the account are refused by its unique index."""
    rng = random.Random(f"contacts:{account_id}:{start}:{count}")
    for n in range(start, start + count):
        doc: dict[str, Any] = {
            "id": seeded_id(rng),
            "first_name": "Lead",
            "last_name": str(n),
            "phone": generated_phone(n),
            "email": generated_email(n),
            "tags": [],
            "custom_fields": {},
            **contacts_db.consent_defaults(),
            "pipeline_id": None,
            "stage_id": None,
            "created_at": created_at,
            "updated_at": created_at,
        }
        doc["dnd"] = n % DND_EVERY == 0
        doc["dnd_channels"] = ["sms"] if n % SMS_DND_EVERY == 0 else []
        doc["timezone"] = ZONES.get(n % 10)
        contacts_db.insert(tx, account_id, doc, check=False)
    return count


def _message_rows(
    tx: Tx, account_id: str, seed: str, spec: dict[str, Any], our_number: str
) -> Iterator[tuple[str, str, float, None, str | None, None, str, str]]:
    rng = random.Random(seed)
    channel, direction, body = spec["channel"], spec["direction"], spec["body"]
    field = "email" if channel == "email" else "phone"
    ours = OUR_EMAIL if channel == "email" else our_number
    people = [
        (row[0], row[1])
        for row in tx.conn.execute(
            f"SELECT id, {field} FROM contacts WHERE account_id = ? AND {field} IS NOT NULL ORDER BY seq",
            (account_id,),
        )
    ]
    if not people:
        raise ValueError("the account has no contacts to address these messages to")
    since, until = int(spec["since"]), int(spec["until"])
    stamps = sorted(since + rng.randrange(max(1, until - since)) for _ in range(spec["count"]))
    stamp_text = _StampText()
    for stamp in stamps:
        contact_id, address = people[rng.randrange(len(people))]
        message_id = _uuid7(stamp, rng.getrandbits(74))
        created = stamp_text(stamp)
        sender, to = (address, ours) if direction == "inbound" else (ours, address)
        doc = {
            "id": message_id,
            "channel": channel,
            "direction": direction,
            "from": sender,
            "to": to,
            "contact_id": contact_id,
            "conversation_id": None,
            "subject": None,
            "body": body,
            "status": "received" if direction == "inbound" else "delivered",
            "segments": None if channel == "email" else 1,
            "cost": 0.0 if direction == "inbound" else 0.01,
            "created_at": created,
            "delivered_at": None if direction == "inbound" else created,
        }
        yield (message_id, created, 0.0, None, contact_id, None, direction, json.dumps(doc))


def insert_messages(tx: Tx, account_id: str, seed: str, spec: dict[str, Any], our_number: str) -> int:
    """Insert ``spec["count"]`` messaging-log rows in ``[since, until)`` (epoch seconds), each to
    (or, inbound, from) a contact of the account drawn at random and linked to it.

    :param spec: ``count``, ``since``, ``until``, ``channel``, ``direction`` and ``body``.
    """
    rows = _message_rows(tx, account_id, seed, spec, our_number)
    while batch := list(islice(rows, _BATCH)):
        tx.insert_event_rows(account_id, KIND, batch)
    return int(spec["count"])
