"""Outbound and inbound messages: cost, wallet debit, thread, record, automatic replies."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from votel_airflow.sandbox import clock, lifecycle
from votel_airflow.sandbox.ids import new_id
from votel_airflow.sandbox.responses import error
from votel_airflow.sandbox.state import Sandbox
from votel_airflow.sandbox.store import InsufficientFunds, Tx, to_micros

Doc = dict[str, Any]
COST_PER_SEGMENT = {"sms": 0.01, "whatsapp": 0.005}
EMAIL_COST = 0.001
REPLY_BODY = "YES"
OUR_EMAIL = "hello@example.com"
DEFAULT_NUMBER = "+14155550100"


def segments(body: str) -> int:
    """SMS segments: 160 GSM characters (153 when split), or 70 (67) with other characters."""
    single, part = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else math.ceil(len(body) / part)


def cost_of(channel: str, body: str) -> float:
    if channel == "email":
        return EMAIL_COST
    return round(COST_PER_SEGMENT[channel] * segments(body), 6)


def our_number(tx: Tx, account_id: str) -> str:
    """The account's first phone number, the sender of its calls and texts."""
    docs = tx.object_docs(account_id, "phone_number", limit=1)
    return str(json.loads(docs[0])["number"]) if docs else DEFAULT_NUMBER


def conversation_for(
    tx: Tx, account_id: str, contact_id: str, channel: str, make_id: Callable[[], str] = new_id
) -> str:
    """The id of the contact's thread on ``channel``, opened on first use."""
    parent = f"{contact_id}:{channel}"
    docs = tx.object_docs(account_id, "conversation", parent_id=parent, limit=1)
    if docs:
        return str(json.loads(docs[0])["id"])
    doc = {"id": make_id(), "contact_id": contact_id, "channel": channel}
    tx.put_object(account_id, "conversation", doc["id"], doc, parent)
    return doc["id"]


def debit(tx: Tx, account_id: str, amount: float, description: str, reference: str) -> None:
    """Charge the wallet or answer 402."""
    try:
        tx.debit(account_id, to_micros(amount), description, reference)
    except InsufficientFunds:
        raise error(402, "Insufficient wallet balance") from None


@dataclass(frozen=True)
class Outbound:
    """One message to send; ``contact`` links it to a thread when known."""

    channel: str
    to: str
    body: str
    record_kind: str
    subject: str | None = None
    sender: str | None = None
    contact: Doc | None = None
    idempotency_key: str | None = None
    extra: Doc | None = None


def send(tx: Tx, sandbox: Sandbox, account_id: str, message: Outbound) -> Doc:
    """Charge, store and record one outbound message; returns it as first seen (queued)."""
    t0 = clock.now()
    created = clock.iso(t0)
    message_id = new_id()
    cost = cost_of(message.channel, message.body)
    debit(tx, account_id, cost, f"{message.channel} to {message.to}", message_id)
    sender = message.sender or (OUR_EMAIL if message.channel == "email" else our_number(tx, account_id))
    contact_id = message.contact["id"] if message.contact else None
    conversation = conversation_for(tx, account_id, contact_id, message.channel) if contact_id else None
    status = lifecycle.message_final_status(message.channel, message.to)
    stage = sandbox.config.message_stage_seconds
    doc: Doc = {
        "id": message_id,
        "channel": message.channel,
        "direction": "outbound",
        "from": sender,
        "to": message.to,
        "contact_id": contact_id,
        "conversation_id": conversation,
        "subject": message.subject,
        "body": message.body,
        "status": status,
        "segments": segments(message.body) if message.channel != "email" else None,
        "cost": cost,
        "created_at": created,
        "delivered_at": clock.iso(t0 + 2 * stage) if status == "delivered" else None,
        **(message.extra or {}),
    }
    tx.insert_event(
        account_id,
        "message",
        message_id,
        created,
        doc,
        visible_at=t0,
        t0=t0,
        contact_id=contact_id,
        k1=conversation,
        k2="outbound",
    )
    tx.record(
        account_id,
        message.record_kind,
        {
            "id": message_id,
            "recipient": message.to,
            "channel": message.channel,
            "subject": message.subject,
            "body": message.body,
            "contact_id": contact_id,
            "idempotency_key": message.idempotency_key,
            "created_at": created,
        },
    )
    contact = message.contact
    if contact and conversation and str(contact.get("phone") or "").endswith("7"):
        reply_at = t0 + sandbox.config.reply_seconds
        receive(tx, account_id, contact, message.channel, REPLY_BODY, reply_at)
    return lifecycle.message_view(doc, t0, stage, t0)


def receive(
    tx: Tx,
    account_id: str,
    contact: Doc | None,
    channel: str,
    body: str,
    at: float | None = None,
    *,
    sender: str | None = None,
    visible_at: float | None = None,
) -> Doc:
    """Store an inbound message, dated ``at`` (default now) and visible from ``visible_at``
    (default ``at``): an automatic reply arrives later, an injected past reply shows at once.

    :param contact: who sent it (it joins their thread); None for an unknown sender.
    :param sender: the address it came from; default the contact's phone or e-mail.
    """
    when = clock.now() if at is None else at
    contact_id = contact["id"] if contact else None
    conversation = conversation_for(tx, account_id, contact_id, channel) if contact_id else None
    if sender is None and contact is not None:
        sender = contact.get("email") if channel == "email" else contact.get("phone")
    ours = OUR_EMAIL if channel == "email" else our_number(tx, account_id)
    doc: Doc = {
        "id": new_id(),
        "channel": channel,
        "direction": "inbound",
        "from": sender,
        "to": ours,
        "contact_id": contact_id,
        "conversation_id": conversation,
        "subject": None,
        "body": body,
        "status": "received",
        "segments": segments(body) if channel != "email" else None,
        "cost": 0.0,
        "created_at": clock.iso(when),
        "delivered_at": None,
    }
    tx.insert_event(
        account_id,
        "message",
        doc["id"],
        doc["created_at"],
        doc,
        visible_at=when if visible_at is None else visible_at,
        contact_id=contact_id,
        k1=conversation,
        k2="inbound",
    )
    return doc
