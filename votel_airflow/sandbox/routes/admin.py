"""The admin API under ``/_admin``: accounts, wallets, faults, rate limit, records, stats.

Every route requires the ``X-Admin-Token`` header (403 otherwise). The middleware never rate
limits or faults these routes, and they are left out of the public OpenAPI document.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import sqlite3
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from pydantic import ConfigDict, Field, model_validator

from votel_airflow.sandbox import accounts, bulk, bulk_outreach, clock, contacts_db, lifecycle, messaging
from votel_airflow.sandbox.config import FaultConfig
from votel_airflow.sandbox.deps import get_sandbox
from votel_airflow.sandbox.models import E164, EMAIL, Body, Channel
from votel_airflow.sandbox.responses import Json, error, invalid
from votel_airflow.sandbox.state import Sandbox
from votel_airflow.sandbox.store import Account, from_micros

RecordKind = Literal[
    "sms", "email", "message", "call", "enrollment", "booking", "task", "trigger",
    # the kill switch: what was stopped, and when
    "call_cancel", "campaign_pause", "campaign_resume", "import_cancel",
]  # fmt: skip
MAX_GENERATED = 5_000_000


def require_admin(
    request: Request, token: Annotated[str | None, Header(alias="X-Admin-Token")] = None
) -> None:
    expected = get_sandbox(request).config.admin_token
    if token is None or not secrets.compare_digest(token.encode(), expected.encode()):
        raise error(403, "Invalid or missing admin token")


router = APIRouter(prefix="/_admin", dependencies=[Depends(require_admin)], include_in_schema=False)
SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]


def _account(sandbox: Sandbox, api_key: str) -> Account:
    account = sandbox.store.account_for_key(api_key)
    if account is None:
        raise error(404, "Unknown API key")
    return account


class NewAccount(Body):
    balance: float = 100.0
    seed: bool = True


class WalletSet(Body):
    api_key: str
    balance: Annotated[float, Field(ge=0)]


class Faults(Body):
    error_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    html_502_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    drop_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    slow_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    slow_seconds: Annotated[float, Field(ge=0, le=600)] = 0.0
    burst_429: Annotated[int, Field(ge=0)] = 0
    fault_seed: int = 0
    error_after_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    burst_retry_after: Annotated[int, Field(ge=0, le=86400)] = 1


class RateLimitSet(Body):
    per_second: Annotated[float, Field(gt=0)] | None = None


class CallStageSet(Body):
    seconds: Annotated[float, Field(gt=0)]


class CallLogsGenerate(Body):
    api_key: str
    count: Annotated[int, Field(ge=0, le=MAX_GENERATED)]
    since: datetime
    until: datetime


class ContactsGenerate(Body):
    api_key: str
    count: Annotated[int, Field(ge=0, le=MAX_GENERATED)]
    #: the first contact's index (numbers and e-mails follow from it): a second call adds more
    start: Annotated[int, Field(ge=0, le=MAX_GENERATED)] = 0


class MessagesGenerate(Body):
    api_key: str
    count: Annotated[int, Field(ge=0, le=MAX_GENERATED)]
    since: datetime
    until: datetime
    channel: Channel = "sms"
    direction: Literal["inbound", "outbound"] = "outbound"
    body: Annotated[str, Field(min_length=1, max_length=1600)] = "Hello"


class InboundMessage(Body):
    """A reply to inject: from a contact (``contact_id``) or from an address (``from``), which is
    linked to the contact with that phone (e-mail for ``email``) when there is one."""

    model_config = ConfigDict(populate_by_name=True)

    api_key: str
    contact_id: str | None = None
    from_: Annotated[str, Field(max_length=254)] | None = Field(default=None, alias="from")
    body: Annotated[str, Field(min_length=1, max_length=10_000)]
    channel: Channel = "sms"
    #: when it was received (default now); shown at once in the logs, even if dated later
    at: datetime | None = None

    @model_validator(mode="after")
    def _sender(self) -> InboundMessage:
        if (self.contact_id is None) == (self.from_ is None):
            raise ValueError("give exactly one of contact_id or from")
        pattern = EMAIL if self.channel == "email" else E164
        if self.from_ is not None and not re.match(pattern, self.from_):
            kind = "an e-mail address" if self.channel == "email" else "an E.164 number"
            raise ValueError(f"from {self.from_!r} is not {kind} (channel {self.channel})")
        return self


@router.post("/accounts", status_code=201)
def create_account(body: NewAccount, sandbox: SandboxDep) -> Response:
    """A fresh tenant; with ``seed`` (default) it holds the deterministic seed data."""
    seed = (sandbox.config.seed if sandbox.config.seed is not None else 0) if body.seed else None
    account = accounts.create_account(
        sandbox.store, balance=body.balance, seed=seed, today=sandbox.config.today
    )
    return Json({"account_id": account.id, "api_key": account.api_key}, status_code=201)


@router.get("/accounts")
def list_accounts(sandbox: SandboxDep) -> Response:
    with sandbox.store.tx() as tx:
        docs = [
            {"account_id": a.id, "api_key": a.api_key, "balance": from_micros(tx.balance_micros(a.id))}
            for a in sandbox.store.accounts()
        ]
    return Json(docs)


@router.put("/wallet")
def set_wallet(body: WalletSet, sandbox: SandboxDep) -> Response:
    account = _account(sandbox, body.api_key)
    with sandbox.store.tx() as tx:
        tx.set_balance(account.id, body.balance)
        balance = from_micros(tx.balance_micros(account.id))
    return Json({"balance": balance, "currency": "USD"})


@router.get("/faults")
async def get_faults(sandbox: SandboxDep) -> Response:
    return Json(vars(sandbox.faults.config))


@router.put("/faults")
async def set_faults(body: Faults, sandbox: SandboxDep) -> Response:
    """Replace the fault settings; the draws restart from ``fault_seed``."""
    config = FaultConfig(**body.model_dump())
    try:
        sandbox.faults.configure(config)
    except ValueError as exc:
        raise invalid(("body",), str(exc)) from None
    return Json(vars(config))


@router.delete("/faults")
async def clear_faults(sandbox: SandboxDep) -> Response:
    sandbox.faults.configure(FaultConfig())
    return Json(vars(sandbox.faults.config))


@router.put("/rate-limit")
async def set_rate_limit(body: RateLimitSet, sandbox: SandboxDep) -> Response:
    """Requests per second per API key; ``null`` turns the limit off. Buckets start full."""
    sandbox.limiter.configure(body.per_second)
    return Json({"per_second": body.per_second})


@router.put("/call-stage")
async def set_call_stage(body: CallStageSet, sandbox: SandboxDep) -> Response:
    """Seconds a call spends in each stage, from now on, for every call: a call's status, times
    and place in the call logs follow from its start and this length, so shortening it ends the
    calls that outlast it at once (a test decides when calls end without restarting the server
    its waits poll)."""
    sandbox.config = dataclasses.replace(sandbox.config, call_stage_seconds=body.seconds)
    # Their final forms say when they end, and the call logs list them from then: both follow.
    with sandbox.store.tx() as tx:
        for row in tx.events_in_lifecycle("call"):
            doc, end = lifecycle.restaged_call(json.loads(row["doc"]), row["t0"], body.seconds)
            tx.retime_event(row["account_id"], "call", row["id"], doc, end)
    return Json({"call_stage_seconds": body.seconds})


@router.get("/records")
def records(
    sandbox: SandboxDep, api_key: Annotated[str, Query()], kind: Annotated[RecordKind, Query()]
) -> Response:
    """What the account sent or created, oldest first: recipient, body, idempotency key, time."""
    account = _account(sandbox, api_key)
    with sandbox.store.tx() as tx:
        return Json(tx.records(account.id, kind))


@router.get("/stats")
async def stats(sandbox: SandboxDep) -> Response:
    return Json(sandbox.stats.snapshot())


@router.delete("/stats")
async def reset_stats(sandbox: SandboxDep) -> Response:
    sandbox.stats.reset()
    return Json(sandbox.stats.snapshot())


@router.get("/config")
async def config(sandbox: SandboxDep) -> Response:
    """The timings in force, so a test can wait exactly as long as a state change takes, and the
    day new accounts' seeded week leads up to, so it can pick a window that holds their logs."""
    c = sandbox.config
    return Json(
        {
            "call_stage_seconds": c.call_stage_seconds,
            "message_stage_seconds": c.message_stage_seconds,
            "enrollment_seconds": c.enrollment_seconds,
            "job_seconds": c.job_seconds,
            "reply_seconds": c.reply_seconds,
            "max_body_bytes": c.max_body_bytes,
            "rate_limit": sandbox.limiter.per_second,
            "idempotency": c.idempotency,
            "today": clock.today_midnight(c.today).date().isoformat(),
        }
    )


@router.post("/call-logs", status_code=201)
def generate_call_logs(body: CallLogsGenerate, sandbox: SandboxDep) -> Response:
    """Insert ``count`` finished calls spread over ``[since, until)``; same request, same rows."""
    account = _account(sandbox, body.api_key)
    try:
        since, until = clock.parse(clock.iso_dt(body.since)), clock.parse(clock.iso_dt(body.until))
    except (OverflowError, ValueError):
        raise invalid(("body", "since"), "Timestamp out of range") from None
    if until <= since:
        raise invalid(("body", "until"), "until must be after since")
    seed = f"generated:{account.ordinal}:{body.count}:{since.isoformat()}:{until.isoformat()}"
    with sandbox.store.tx() as tx:
        number = messaging.our_number(tx, account.id)
        bulk.insert_call_logs(tx, account.id, seed, body.count, since.timestamp(), until.timestamp(), number)
    return Json({"inserted": body.count}, status_code=201)


def _window(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    try:
        start, end = clock.parse(clock.iso_dt(since)), clock.parse(clock.iso_dt(until))
    except (OverflowError, ValueError):
        raise invalid(("body", "since"), "Timestamp out of range") from None
    if end <= start:
        raise invalid(("body", "until"), "until must be after since")
    return start, end


@router.post("/contacts", status_code=201)
def generate_contacts(body: ContactsGenerate, sandbox: SandboxDep) -> Response:
    """Insert ``count`` contacts with a mix of consent flags and zones (``bulk_outreach``); 409 when
    one of their numbers is taken."""
    account = _account(sandbox, body.api_key)
    try:
        with sandbox.store.tx() as tx:
            bulk_outreach.insert_contacts(tx, account.id, body.start, body.count, clock.iso(clock.now()))
    except sqlite3.IntegrityError:
        raise error(409, "Some of these contacts exist already; give another start") from None
    return Json({"inserted": body.count}, status_code=201)


@router.post("/messages", status_code=201)
def generate_messages(body: MessagesGenerate, sandbox: SandboxDep) -> Response:
    """Insert ``count`` messaging-log rows in ``[since, until)`` to (or from) the account's
    contacts; same request, same rows."""
    account = _account(sandbox, body.api_key)
    since, until = _window(body.since, body.until)
    seed = f"messages:{account.ordinal}:{body.model_dump_json(exclude={'api_key'})}"
    spec = body.model_dump(exclude={"api_key"}) | {"since": since.timestamp(), "until": until.timestamp()}
    with sandbox.store.tx() as tx:
        try:
            bulk_outreach.insert_messages(tx, account.id, seed, spec, messaging.our_number(tx, account.id))
        except ValueError as exc:
            raise error(400, str(exc)) from None
    return Json({"inserted": body.count}, status_code=201)


@router.post("/inbound", status_code=201)
def inject_inbound(body: InboundMessage, sandbox: SandboxDep) -> Response:
    """A message to the account, visible at once in the messaging logs (and the thread of its contact)."""
    account = _account(sandbox, body.api_key)
    field = "email" if body.channel == "email" else "phone"
    at = None
    if body.at is not None:
        try:
            at = clock.parse(clock.iso_dt(body.at)).timestamp()
        except (OverflowError, ValueError):
            raise invalid(("body", "at"), "Timestamp out of range") from None
    with sandbox.store.tx() as tx:
        if body.from_ is None:
            contact = contacts_db.get(tx, account.id, str(body.contact_id))
            if contact is None:
                raise error(404, "Lead not found")
            if not contact.get(field):
                raise error(400, "Contact has no address on this channel")
        else:
            contact = contacts_db.find(tx, account.id, field, body.from_)
        doc: dict[str, Any] = messaging.receive(
            tx, account.id, contact, body.channel, body.body, at,
            sender=body.from_, visible_at=min(at, clock.now()) if at is not None else None,
        )  # fmt: skip
    return Json(doc, status_code=201)
