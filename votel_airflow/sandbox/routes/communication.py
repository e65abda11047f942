"""Communication: SMS and e-mail sends, delivery status, e-mail templates."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from votel_airflow.sandbox import clock, contacts_db, lifecycle
from votel_airflow.sandbox.deps import CtxDep, IdempotencyKey, PageDep
from votel_airflow.sandbox.idempotency import run_once
from votel_airflow.sandbox.ids import new_id
from votel_airflow.sandbox.messaging import Outbound, send
from votel_airflow.sandbox.models import EmailSend, EmailTemplateCreate, SmsSend
from votel_airflow.sandbox.responses import Json
from votel_airflow.sandbox.routes.listing import found, not_found, object_list
from votel_airflow.sandbox.store import Tx

router = APIRouter(tags=["communication"])
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def render(template: str, variables: dict[str, Any]) -> str:
    """Fill ``{{name}}`` placeholders; unknown ones are left as they are."""
    return _PLACEHOLDER.sub(lambda m: str(variables.get(m.group(1), m.group(0))), template)


@router.post("/communication/sms", status_code=201)
def send_sms(body: SmsSend, ctx: CtxDep, idempotency_key: IdempotencyKey = None) -> Response:
    """Send one SMS: 0.01 per segment; linked to the contact with this phone, if any."""

    def action(tx: Tx) -> dict[str, Any]:
        contact = contacts_db.find(tx, ctx.account_id, "phone", body.to)
        message = Outbound(
            "sms", body.to, body.body, "sms", sender=body.from_, contact=contact,
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return send(tx, ctx.sandbox, ctx.account_id, message)

    return run_once(ctx, idempotency_key, 201, action)


@router.post("/communication/email", status_code=201)
def send_email(body: EmailSend, ctx: CtxDep, idempotency_key: IdempotencyKey = None) -> Response:
    """Send one e-mail (0.001); ``template_id`` renders ``{{variables}}`` into the template."""

    def action(tx: Tx) -> dict[str, Any]:
        variables = body.variables or {}
        subject, content = body.subject, body.text or body.html or ""
        extra: dict[str, Any] = {"template_id": body.template_id, "html": body.html}
        if body.template_id is not None:
            template = found(tx.get_object(ctx.account_id, "email_template", body.template_id), "Template")
            content = render(template["html"], variables)
            extra["html"] = content
        contact = contacts_db.find(tx, ctx.account_id, "email", body.to)
        message = Outbound(
            "email", body.to, render(content, variables), "email", subject=render(subject, variables),
            contact=contact, idempotency_key=idempotency_key, extra=extra,
        )  # fmt: skip
        return send(tx, ctx.sandbox, ctx.account_id, message)

    return run_once(ctx, idempotency_key, 201, action)


@router.get("/communication/messages/{message_id}")
def get_message(message_id: str, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        row = tx.get_event(ctx.account_id, "message", message_id)
    if row is None:
        not_found("Message")
    stage = ctx.sandbox.config.message_stage_seconds
    return Json(lifecycle.message_view(json.loads(row["doc"]), row["t0"], stage, clock.now()))


@router.get("/email-templates")
def list_templates(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "email_template", page)


@router.post("/email-templates", status_code=201)
def create_template(body: EmailTemplateCreate, ctx: CtxDep) -> Response:
    doc = {"id": new_id(), **body.model_dump(), "created_at": clock.iso(clock.now())}
    with ctx.sandbox.store.tx() as tx:
        tx.put_object(ctx.account_id, "email_template", doc["id"], doc)
    return Json(doc, status_code=201)
