"""Conversations: inbox threads (with lazily arriving replies), thread messages, replies."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from votel_airflow.sandbox import clock, contacts_db, lifecycle
from votel_airflow.sandbox.deps import CtxDep, IdempotencyKey, PageDep, stamp
from votel_airflow.sandbox.idempotency import run_once
from votel_airflow.sandbox.logs import LogQuery, page_events
from votel_airflow.sandbox.messaging import Outbound, send
from votel_airflow.sandbox.models import Channel, ThreadMessage
from votel_airflow.sandbox.responses import Json, error, raw_list
from votel_airflow.sandbox.routes.listing import not_found, object_list
from votel_airflow.sandbox.store import Tx, dumps

router = APIRouter(tags=["conversations"])


@router.get("/conversations")
def list_conversations(
    ctx: CtxDep,
    page: PageDep,
    channel: Channel | None = None,
    updated_since: Annotated[datetime | None, Query()] = None,
) -> Response:
    """Threads with at least one visible message, most recently active first."""
    since = stamp(updated_since, "updated_since")
    now = clock.now()
    with ctx.sandbox.store.tx() as tx:
        threads = tx.objects(ctx.account_id, "conversation")
        messages = tx.conn.execute(
            "SELECT k1, k2, created_at FROM events WHERE account_id = ? AND kind = 'message'"
            " AND visible_at <= ? AND k1 IS NOT NULL ORDER BY created_at",
            (ctx.account_id, now),
        ).fetchall()
    last: dict[str, str] = {}
    unread: dict[str, int] = {}
    for conversation_id, direction, created in messages:
        last[conversation_id] = created
        if direction == "outbound":
            unread[conversation_id] = 0
        else:
            unread[conversation_id] = unread.get(conversation_id, 0) + 1
    docs = [
        {
            "id": thread["id"],
            "contact_id": thread["contact_id"],
            "channel": thread["channel"],
            "last_message_at": last[thread["id"]],
            "unread": unread.get(thread["id"], 0),
        }
        for thread in threads
        if thread["id"] in last
        and (channel is None or thread["channel"] == channel)
        and (since is None or last[thread["id"]] >= since)
    ]
    docs.sort(key=lambda doc: doc["id"])
    docs.sort(key=lambda doc: doc["last_message_at"], reverse=True)
    return Json(docs[page.offset : page.offset + page.limit])


@router.get("/conversations/{conversation_id}/messages")
def thread_messages(
    conversation_id: str,
    ctx: CtxDep,
    page: PageDep,
    since: Annotated[datetime | None, Query()] = None,
) -> Response:
    """Messages of a thread, oldest first; replies appear once their time has come."""
    query = LogQuery(
        ctx.account_id,
        "message",
        stamp(since, "since"),
        None,
        (("k1", conversation_id),),
        page.limit,
        page.offset,
    )
    now = clock.now()
    stage = ctx.sandbox.config.message_stage_seconds
    with ctx.sandbox.store.tx() as tx:
        if tx.get_object(ctx.account_id, "conversation", conversation_id) is None:
            not_found("Conversation")
        rows = page_events(tx, ctx.sandbox.pages, query, now)
    return raw_list(dumps(lifecycle.message_view(json.loads(row[3]), row[2], stage, now)) for row in rows)


@router.post("/conversations/messages", status_code=201)
def send_in_thread(body: ThreadMessage, ctx: CtxDep, idempotency_key: IdempotencyKey = None) -> Response:
    """Send on the contact's thread for the channel; costs like an SMS or an e-mail."""

    def action(tx: Tx) -> dict[str, Any]:
        contact = contacts_db.get(tx, ctx.account_id, body.contact_id)
        if contact is None:
            raise error(404, "Lead not found")
        address = contact.get("email") if body.channel == "email" else contact.get("phone")
        if not address:
            what = "email address" if body.channel == "email" else "phone number"
            raise error(400, f"Contact has no {what}")
        subject = body.subject or ("Message" if body.channel == "email" else None)
        message = Outbound(
            body.channel, address, body.body, "message", subject=subject, contact=contact,
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return send(tx, ctx.sandbox, ctx.account_id, message)

    return run_once(ctx, idempotency_key, 201, action)


@router.get("/quick-replies")
def quick_replies(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "quick_reply", page)


@router.get("/channels")
def channels(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "channel", page)
