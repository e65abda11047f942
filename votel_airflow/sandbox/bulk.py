"""Call logs in bulk: a million rows in seconds, the same rows for the same request.

Rows are rendered straight to JSON text from pre-encoded pieces (no per-row ``json.dumps``),
sorted by time so the index grows at its end, and inserted with ``executemany``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import islice

from votel_airflow.sandbox import lifecycle
from votel_airflow.sandbox.clock import UTC
from votel_airflow.sandbox.store import Tx

KIND = "call"
_BATCH = 20_000
#: Made-up numbers called when the account has no contacts.
_RANDOM_CALLEES = 1000
_NULL = "null"
_J = json.dumps
_ENDS: tuple[tuple[str, str | None], ...] = (
    ("completed", "booked"),
    ("completed", "callback_requested"),
    ("completed", "not_interested"),
    ("no_answer", None),
    ("busy", None),
    ("failed", None),
)
#: Pre-encoded ``"outcome":..,"summary":..,"transcript":..`` JSON per ``"status:outcome"``.
_PIECES = {
    f"{status}:{outcome}": (
        f'"outcome":{_J(outcome)},"summary":{_J(lifecycle.SUMMARIES[outcome or status])},'
        f'"transcript":{_J(lifecycle.TRANSCRIPTS[outcome]) if outcome else _NULL}'
    )
    for status, outcome in _ENDS
}
#: ``(contact_id, status, duration, JSON between agent_id and created_at, JSON after ended_at)``
_Target = tuple[str | None, str, int, str, str]


def _target(contact_id: str | None, to: str, from_number: str) -> _Target:
    """Everything about a callee that does not change from call to call, pre-rendered."""
    status, outcome = lifecycle.call_end(to)
    duration = lifecycle.call_duration(to) if status == "completed" else 0
    contact_json = f'"{contact_id}"' if contact_id else _NULL
    cost = round(0.10 + duration * 0.001, 4) if duration else 0.10
    head = (
        f',"contact_id":{contact_json},"direction":"outbound","from":"{from_number}",'
        f'"to":"{to}","status":"{status}","created_at":"'
    )
    tail = f',"duration_seconds":{duration},"cost":{cost},{_PIECES[f"{status}:{outcome}"]}'
    return contact_id, status, duration, head, tail


def call_log_rows(
    seed: str,
    count: int,
    since: float,
    until: float,
    agents: Sequence[str],
    contacts: Sequence[tuple[str, str]],
    from_number: str,
) -> Iterator[tuple[str, str, float, None, str | None, str, str, str]]:
    """Rows for :meth:`Tx.insert_event_rows`: terminal outbound calls in ``[since, until)``.

    :param seed: text the generator is seeded with; the same seed gives the same rows.
    :param agents: agent ids to spread the calls over (one made-up id when empty).
    :param contacts: ``(contact_id, phone)`` pairs called; random numbers when empty.
    """
    rng = random.Random(seed)
    span = max(1, int(until - since))
    base = int(since)
    stamps = sorted(base + rng.randrange(span) for _ in range(count))
    agent_ids = list(agents) or [_uuid(rng)]
    targets = [_target(contact_id, to, from_number) for contact_id, to in contacts] or [
        _target(None, f"+1415{rng.randrange(10_000_000):07d}", from_number) for _ in range(_RANDOM_CALLEES)
    ]
    stamp_text = _StampText()
    getrandbits = rng.getrandbits
    n_agents, n_targets = len(agent_ids), len(targets)
    for stamp in stamps:
        call_id = _uuid7(stamp, getrandbits(74))
        agent_id = agent_ids[getrandbits(16) % n_agents]
        contact_id, status, duration, head, tail = targets[getrandbits(20) % n_targets]
        created = stamp_text(stamp)
        if duration:
            ring = 5 + getrandbits(4)
            times = (
                f'","started_at":"{stamp_text(stamp + ring)}",'
                f'"ended_at":"{stamp_text(stamp + ring + duration)}"'
            )
            recording = f'"https://recordings.sandbox.votel.invalid/{call_id}.mp3"}}'
        else:
            times = f'","started_at":null,"ended_at":"{stamp_text(stamp + 20)}"'
            recording = "null}"
        doc = (
            f'{{"id":"{call_id}","agent_id":"{agent_id}"{head}{created}{times}{tail}'
            f',"recording_url":{recording}'
        )
        yield (call_id, created, 0.0, None, contact_id, agent_id, status, doc)


def insert_call_logs(
    tx: Tx,
    account_id: str,
    seed: str,
    count: int,
    since: float,
    until: float,
    from_number: str,
) -> int:
    """Generate and insert ``count`` call logs for the account; returns the count."""
    agents = [doc["id"] for doc in tx.objects(account_id, "agent")]
    contacts = [
        (row[0], row[1])
        for row in tx.conn.execute(
            "SELECT id, phone FROM contacts WHERE account_id = ? AND phone IS NOT NULL ORDER BY seq",
            (account_id,),
        )
    ]
    rows = call_log_rows(seed, count, since, until, agents, contacts, from_number)
    while batch := list(islice(rows, _BATCH)):
        tx.insert_event_rows(account_id, KIND, batch)
    return count


class _StampText:
    """``datetime.fromtimestamp(s, UTC).isoformat()`` for whole seconds, a few times faster."""

    _CLOCK = [f"{h:02d}:{m:02d}:{s:02d}+00:00" for h in range(24) for m in range(60) for s in range(60)]

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, stamp: int) -> str:
        day, second = divmod(stamp, 86400)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")
            self._days[day] = prefix
        return prefix + self._CLOCK[second]


def _uuid7(stamp: int, bits: int) -> str:
    """A version 7 UUID (time first) for a whole-second ``stamp``: ids grow with time, so the
    id index is appended to in order instead of written at random places."""
    millis = (stamp * 1000 + (bits & 0x3FF) % 1000) & 0xFFFF_FFFF_FFFF
    rand_a = (bits >> 10) & 0xFFF
    rand_b = bits >> 22
    text = f"{millis:012x}7{rand_a:03x}{0x8000_0000_0000_0000 | (rand_b & (2**62 - 1)):016x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _uuid(rng: random.Random) -> str:
    return str(_uuid_from(rng.getrandbits(128)))


def _uuid_from(bits: int) -> str:
    # Same layout as uuid.UUID(int=bits, version=4), without the object.
    bits &= ~(0xC000 << 48)
    bits |= 0x8000 << 48
    bits &= ~(0xF000 << 64)
    bits |= 4 << 76
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
