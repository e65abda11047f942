"""Deterministic fake data for a seeded account: the same seed and ordinal, the same data.

Logs are spread over the 30 days before :data:`clock.FIXED_DATE` (stable for tests that pin a
window) and over the 7 days before the sandbox's "today" (for DAGs run "now"): the current UTC
day, or the one fixed by ``--today``, so that a test suite can pin it. Unless "today" is fixed
in the future, nothing is dated in the future.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from votel_airflow.sandbox import bulk, clock, contacts_db, lifecycle
from votel_airflow.sandbox import seed_data as data
from votel_airflow.sandbox.ids import seeded_id
from votel_airflow.sandbox.messaging import conversation_for
from votel_airflow.sandbox.store import Tx, dumps

CONTACTS = 200
CALL_LOGS = (700, 300)
MESSAGES = (200, 100)
MEETINGS = (70, 30)
CLICKS = 300
CONVERSIONS = 40
TRANSACTIONS = 60


def windows(today: date | None = None) -> list[tuple[datetime, datetime]]:
    """The fixed window and the week before ``today`` (None: the current UTC day), as ``[start, end)``."""
    midnight = clock.today_midnight(today)
    return [
        (clock.FIXED_DATE - timedelta(days=30), clock.FIXED_DATE),
        (midnight - timedelta(days=7), midnight),
    ]


class _Seeder:
    def __init__(self, tx: Tx, account_id: str, seed: int, ordinal: int, today: date | None) -> None:
        self.tx = tx
        self.account = account_id
        self.rng = random.Random(f"votel-sandbox:{seed}:{ordinal}")
        self.seed_text = f"{seed}:{ordinal}"
        self.windows = windows(today)
        self.pending: dict[str, list[tuple[Any, ...]]] = {}

    def id(self) -> str:
        return seeded_id(self.rng)

    def when(self, window: int) -> str:
        start, end = self.windows[window]
        span = int((end - start).total_seconds())
        return clock.iso_dt(start + timedelta(seconds=self.rng.randrange(span)))

    def put(self, kind: str, doc: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
        self.tx.put_object(self.account, kind, doc["id"], doc, parent)
        return doc

    def event(
        self,
        kind: str,
        doc: dict[str, Any],
        contact_id: str | None = None,
        k1: str | None = None,
        k2: str | None = None,
    ) -> None:
        row = (doc["id"], doc["created_at"], 0.0, None, contact_id, k1, k2, dumps(doc))
        self.pending.setdefault(kind, []).append(row)

    def flush(self) -> None:
        for kind, rows in self.pending.items():
            self.tx.insert_event_rows(self.account, kind, rows)
        self.pending.clear()

    def run(self) -> None:
        created = clock.iso_dt(clock.FIXED_DATE - timedelta(days=60))
        self.settings(created)
        self.contacts = self.make_contacts()
        self.agents(created)
        self.workflows(created)
        self.calendars(created)
        self.call_logs()
        self.messages()
        self.meetings()
        self.tracking()
        self.payments(created)
        self.flush()

    def settings(self, created: str) -> None:
        rng = self.rng
        self.numbers = [f"+1415{rng.randrange(2000000, 9999999):07d}" for _ in range(3)]
        for number in self.numbers:
            caps = ["voice", "sms"] if number != self.numbers[-1] else ["voice"]
            self.put("phone_number", {"id": self.id(), "number": number, "capabilities": caps})
        self.users = [
            self.put(
                "user",
                {
                    "id": self.id(),
                    "name": name,
                    "email": f"{name.split()[0].lower()}@example.com",
                    "role": role,
                },
            )
            for name, role in data.USERS
        ]
        for i in range(2):
            self.put("sub_account", {"id": self.id(), "name": f"Branch {i + 1}", "created_at": created})
        for name, connected in data.INTEGRATIONS:
            self.put("integration", {"id": self.id(), "name": name, "connected": connected})
        for i, host in enumerate(("mail.example.com", "links.example.com")):
            self.put("domain", {"id": self.id(), "domain": host, "verified": i == 0})
        for key, name, kind in data.CUSTOM_FIELDS:
            self.put("custom_field", {"id": self.id(), "key": key, "name": name, "type": kind})
        for name in data.TASK_VIEWS:
            self.put("task_view", {"id": self.id(), "name": name, "filters": {"status": "open"}})
        for name, text in data.QUICK_REPLIES:
            self.put("quick_reply", {"id": self.id(), "name": name, "body": text})
        for channel, name in data.CHANNELS:
            self.put("channel", {"id": self.id(), "type": channel, "name": name, "enabled": True})
        for name, subject, html in data.EMAIL_TEMPLATES:
            doc = {"id": self.id(), "name": name, "subject": subject, "html": html}
            self.put("email_template", dict(doc, created_at=created))
        for name, value in data.WORKFLOW_VARIABLES:
            self.put("workflow_variable", {"id": name, "name": name, "value": value})
        for voice_id, name, language, gender in data.VOICES:
            doc = {"id": voice_id, "name": name, "language": language, "gender": gender}
            self.put("tts_voice", doc)
        for name, stages in data.PIPELINES:
            stage_docs = [{"id": self.id(), "name": stage, "position": i} for i, stage in enumerate(stages)]
            self.put("pipeline", {"id": self.id(), "name": name, "stages": stage_docs})

    def make_contacts(self) -> list[dict[str, Any]]:
        rng = self.rng
        phones: set[str] = set()
        contacts = []
        start, end = self.windows[0]
        for i in range(CONTACTS):
            first, last = rng.choice(data.FIRST_NAMES), rng.choice(data.LAST_NAMES)
            phone = ""
            while not phone or phone in phones:
                # A dialable North American number: its exchange starts with 2-9, so the number
                # is in its area code's plan and its time zone is known (quiet hours need it).
                # Only such numbers move (by 2,000,000, same last digits), from the same draw, so the
                # rest of the seed stays as it was.
                local = rng.randrange(10**7)
                local += 2_000_000 if local < 2_000_000 else 0
                phone = f"+1{rng.choice((212, 312, 415, 617, 646))}{local:07d}"
            phones.add(phone)
            domain = rng.choice(data.EMAIL_DOMAINS)
            stamp = clock.iso_dt(start + (end - start) * i / CONTACTS)
            doc = {
                "id": self.id(),
                "first_name": first,
                "last_name": last,
                "phone": phone,
                "email": f"{first.lower()}.{last.lower()}.{i}@{domain}",
                "tags": sorted(tag for tag in data.TAGS if rng.random() < 0.3),
                "custom_fields": {
                    "company": rng.choice(data.COMPANIES),
                    "plan": rng.choice(data.PLANS),
                },
                **contacts_db.consent_defaults(),
                "pipeline_id": None,
                "stage_id": None,
                "created_at": stamp,
                "updated_at": stamp,
            }
            contacts_db.insert(self.tx, self.account, doc, check=False)
            contacts.append(doc)
        return contacts

    def agents(self, created: str) -> None:
        for i, name in enumerate(data.AGENT_NAMES):
            agent_id = self.id()
            versions = []
            for number in (1, 2):
                version = {
                    "id": self.id(),
                    "agent_id": agent_id,
                    "number": number,
                    "created_at": created,
                    "deployed": number == 2,
                }
                versions.append(self.put("agent_version", version, agent_id))
            agent = {
                "id": agent_id,
                "name": name,
                "prompt": f"You are the {name.lower()} of Example Inc. Be brief and friendly.",
                "voice_id": data.VOICES[i][0],
                "enabled": True,
                "deployed_version_id": versions[-1]["id"],
                "created_at": created,
                "updated_at": created,
            }
            self.put("agent", agent)
            for title in ("Pricing", "FAQ"):
                doc = {
                    "id": self.id(),
                    "agent_id": agent_id,
                    "title": f"{title} ({name})",
                    "text": f"{title} notes for the {name.lower()}.",
                    "url": None,
                    "created_at": created,
                }
                self.put("kb_document", doc, agent_id)

    def workflows(self, created: str) -> None:
        for name in data.WORKFLOW_NAMES:
            doc: dict[str, Any] = {"id": self.id(), "name": name, "status": "published"}
            self.put("workflow", dict(doc, created_at=created, trigger="api"))
        for name in data.CAMPAIGN_NAMES:
            recipients = self.rng.randrange(50, 150)
            stats = {"recipients": recipients, "sent": 0, "delivered": 0, "replied": 0}
            doc = {"id": self.id(), "name": name, "status": "draft", "stats": stats}
            self.put("campaign", dict(doc, created_at=created, started_at=None, _t0=None))

    def calendars(self, created: str) -> None:
        self.staff = []
        self.calendar_ids = []
        for i, name in enumerate(data.CALENDAR_NAMES):
            staff = [{"id": self.id(), "name": data.STAFF_NAMES[2 * i + j]} for j in range(2)]
            self.staff.append(staff)
            doc: dict[str, Any] = {
                "id": self.id(),
                "name": name,
                "slug": name.lower().replace(" ", "-"),
                "timezone": "UTC",
                "slot_minutes": 30,
                "availability": {"days": "mon-sun", "from": "09:00", "to": "17:00"},
                "staff": staff,
                "created_at": created,
            }
            self.put("calendar", doc)
            self.calendar_ids.append(doc["id"])
            for _ in range(3):
                contact = self.rng.choice(self.contacts)
                entry = {
                    "id": self.id(),
                    "calendar_id": doc["id"],
                    "contact_id": contact["id"],
                    "requested_at": self.when(0),
                }
                self.put("waitlist", entry, doc["id"])

    def call_logs(self) -> None:
        for window, count in enumerate(CALL_LOGS):
            start, end = self.windows[window]
            bulk.insert_call_logs(
                self.tx,
                self.account,
                f"seed:{self.seed_text}:{window}",
                count,
                start.timestamp(),
                end.timestamp(),
                self.numbers[0],
            )

    def messages(self) -> None:
        for window, count in enumerate(MESSAGES):
            for _ in range(count):
                contact = self.rng.choice(self.contacts)
                channel = self.rng.choices(("sms", "email", "whatsapp"), (6, 3, 1))[0]
                inbound = self.rng.random() < 0.3
                address = contact["email"] if channel == "email" else contact["phone"]
                ours = "hello@example.com" if channel == "email" else self.numbers[0]
                conversation = conversation_for(self.tx, self.account, contact["id"], channel, self.id)
                created = self.when(window)
                status = "received" if inbound else lifecycle.message_final_status(channel, address)
                doc = {
                    "id": self.id(),
                    "channel": channel,
                    "direction": "inbound" if inbound else "outbound",
                    "from": address if inbound else ours,
                    "to": ours if inbound else address,
                    "contact_id": contact["id"],
                    "conversation_id": conversation,
                    "subject": "Hello" if channel == "email" else None,
                    "body": self.rng.choice(data.SMS_BODIES),
                    "status": status,
                    "segments": 1 if channel != "email" else None,
                    "cost": 0.0 if inbound else (0.001 if channel == "email" else 0.01),
                    "created_at": created,
                    "delivered_at": None if inbound or status != "delivered" else created,
                }
                self.event("message", doc, contact_id=contact["id"], k1=conversation, k2=doc["direction"])

    def meetings(self) -> None:
        for window, count in enumerate(MEETINGS):
            for _ in range(count):
                cal = self.rng.randrange(2)
                contact = self.rng.choice(self.contacts)
                created = self.when(window)
                start = clock.parse(created) + timedelta(days=self.rng.randrange(1, 4))
                doc = {
                    "id": self.id(),
                    "calendar_id": self.calendar_ids[cal],
                    "contact_id": contact["id"],
                    "staff_id": self.rng.choice(self.staff[cal])["id"],
                    "title": self.rng.choice(data.MEETING_TITLES),
                    "start": clock.iso_dt(start),
                    "end": clock.iso_dt(start + timedelta(minutes=30)),
                    "status": self.rng.choices(("completed", "no_show", "canceled"), (8, 1, 1))[0],
                    "duration_minutes": 30,
                    "created_at": created,
                }
                self.event("meeting", doc, contact_id=contact["id"])

    def tracking(self) -> None:
        links = []
        for name in ("Spring landing page", "Pricing page", "Webinar sign-up"):
            code = f"{self.rng.getrandbits(32):08x}"
            doc: dict[str, Any] = {
                "id": self.id(),
                "name": name,
                "destination_url": f"https://example.com/{name.split()[0].lower()}",
                "short_url": f"https://vtl.sandbox.votel.invalid/{code}",
                "created_at": self.when(0),
            }
            links.append(self.put("tracking_link", doc))
        for i in range(CLICKS):
            link = self.rng.choice(links)
            doc = {
                "id": self.id(),
                "link_id": link["id"],
                "source": self.rng.choice(data.TRAFFIC_SOURCES),
                "contact_id": None,
                "ip_country": self.rng.choice(("US", "GB", "DE", "FR", "ES")),
                "created_at": self.when(i % 2),
            }
            self.event("click", doc, k1=link["id"], k2=doc["source"])
        for i in range(CONVERSIONS):
            link = self.rng.choice(links)
            contact = self.rng.choice(self.contacts)
            doc = {
                "id": self.id(),
                "link_id": link["id"],
                "contact_id": contact["id"],
                "source": self.rng.choice(data.TRAFFIC_SOURCES),
                "value": round(self.rng.uniform(10, 500), 2),
                "currency": "USD",
                "created_at": self.when(i % 2),
            }
            self.event("conversion", doc, contact_id=contact["id"], k1=link["id"], k2=doc["source"])

    def payments(self, created: str) -> None:
        for name, price in data.PRODUCTS:
            self.put(
                "product",
                {"id": self.id(), "name": name, "price": price, "currency": "USD",
                 "interval": "month", "created_at": created},
            )  # fmt: skip
        for i in range(3):
            contact = self.contacts[i * 7]
            doc = {
                "id": self.id(),
                "contact_id": contact["id"],
                "product": data.PRODUCTS[i][0],
                "status": ("active", "active", "canceled")[i],
                "current_period_end": clock.iso_dt(clock.FIXED_DATE + timedelta(days=20 + i)),
                "created_at": created,
            }
            self.put("subscription", doc)
        for i in range(TRANSACTIONS):
            credit = i % 10 == 0
            amount = 50.0 if credit else -round(self.rng.choice((0.01, 0.02, 0.1, 0.001)), 3)
            doc = {
                "id": self.id(),
                "type": "credit" if credit else "debit",
                "amount": amount,
                "currency": "USD",
                "balance_after": None,
                "description": "Wallet top-up" if credit else "Usage",
                "reference_id": None,
                "created_at": self.when(i % 2),
            }
            self.event("transaction", doc)


def seed_account(tx: Tx, account_id: str, seed: int, ordinal: int, today: date | None = None) -> None:
    """Fill a new account with the data of ``(seed, ordinal)``, its recent week ending at ``today``."""
    _Seeder(tx, account_id, seed, ordinal, today).run()
