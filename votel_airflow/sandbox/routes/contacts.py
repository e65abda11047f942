"""Contacts: CRUD with unique phone/e-mail, search, import/export jobs, timeline, stages."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from votel_airflow.sandbox import clock, contacts_db, jobs, lifecycle
from votel_airflow.sandbox.deps import Ctx, CtxDep, PageDep, stamp
from votel_airflow.sandbox.ids import new_id
from votel_airflow.sandbox.models import (
    ContactCreate,
    ContactExport,
    ContactImport,
    ContactUpdate,
    StageMove,
)
from votel_airflow.sandbox.responses import Json, error, invalid, raw_list
from votel_airflow.sandbox.routes.listing import found, object_list
from votel_airflow.sandbox.store import Tx

router = APIRouter(tags=["contacts"])
LEAD_NOT_FOUND = "Lead not found"
EXPORT_FILTERS = frozenset({"search", "tag", "updated_since"})
JSONL = "application/x-ndjson"
#: Fields a PATCH may change but not clear: a name is required, and consent is a yes or a no
#: (``timezone`` may be null: unknown).
NOT_NULL = ("first_name", "dnd", "dnd_channels")


def contact_or_404(tx: Tx, ctx: Ctx, contact_id: str) -> dict[str, Any]:
    doc = contacts_db.get(tx, ctx.account_id, contact_id)
    if doc is None:
        raise error(404, LEAD_NOT_FOUND)
    return doc


def _save(tx: Tx, ctx: Ctx, doc: dict[str, Any], *, new: bool) -> None:
    try:
        (contacts_db.insert if new else contacts_db.update)(tx, ctx.account_id, doc)
    except contacts_db.Duplicate as dup:
        raise error(409, f"A contact with this {dup.field} already exists") from None


@router.get("/contacts")
def list_contacts(
    ctx: CtxDep,
    page: PageDep,
    search: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    updated_since: Annotated[datetime | None, Query()] = None,
    dnd: Annotated[
        bool | None,
        Query(description="true: only contacts with dnd or any dnd_channels; false: only the others."),
    ] = None,
) -> Response:
    """Contacts, oldest first; ``search`` matches name, phone or e-mail (case-insensitive)."""
    since = stamp(updated_since, "updated_since")
    with ctx.sandbox.store.tx() as tx:
        docs = contacts_db.page(
            tx, ctx.account_id, search=search, tag=tag, updated_since=since, dnd=dnd,
            limit=page.limit, offset=page.offset,
        )  # fmt: skip
    return raw_list(docs)


@router.post("/contacts", status_code=201)
def create_contact(body: ContactCreate, ctx: CtxDep) -> Response:
    now = clock.iso(clock.now())
    doc = {"id": new_id(), **body.model_dump(), "pipeline_id": None, "stage_id": None}
    doc.update(created_at=now, updated_at=now)
    with ctx.sandbox.store.tx() as tx:
        _save(tx, ctx, doc, new=True)
    return Json(doc, status_code=201)


@router.post("/contacts/imports", status_code=202)
def import_contacts(body: ContactImport, ctx: CtxDep) -> Response:
    """Bulk upsert by ``match_on``; poll the job. Bad rows land in ``failed_rows`` (0-based)."""
    with ctx.sandbox.store.tx() as tx:
        doc = jobs.create_import(tx, ctx.account_id, body.contacts, body.match_on)
    return Json(jobs.import_view(doc, ctx.sandbox.config.job_seconds, clock.now()), status_code=202)


@router.get("/contacts/imports/{import_id}")
def get_import(import_id: str, ctx: CtxDep) -> Response:
    # Settled again at the very instant the status is computed: a job whose completion time fell
    # between the request's settling and this read would show completed with no row applied.
    now = clock.now()
    seconds = ctx.sandbox.config.job_seconds
    with ctx.sandbox.store.tx() as tx:
        jobs.settle_imports(tx, ctx.account_id, seconds, now)
        doc = found(tx.get_object(ctx.account_id, "import", import_id), "Import")
    return Json(jobs.import_view(doc, seconds, now))


@router.post("/contacts/imports/{import_id}/cancel")
def cancel_import(import_id: str, ctx: CtxDep) -> Response:
    """Stop a pending or processing import; 409 when it already finished."""
    now = clock.now()
    seconds = ctx.sandbox.config.job_seconds
    with ctx.sandbox.store.tx() as tx:
        doc = found(tx.get_object(ctx.account_id, "import", import_id), "Import")
        view = jobs.cancel_import(tx, ctx.account_id, doc, seconds, now)
        if view is None:
            status = jobs.import_view(doc, seconds, now)["status"]
            raise error(409, f"Import already finished ({status}); nothing to cancel")
        tx.record(ctx.account_id, "import_cancel", {"id": import_id, "created_at": clock.iso(now)})
    return Json(view)


@router.post("/contacts/exports", status_code=202)
def export_contacts(ctx: CtxDep, body: ContactExport | None = None) -> Response:
    """Snapshot the contacts matching ``filters`` (search, tag, updated_since) as a job."""
    filters = (body.filters if body else None) or {}
    unknown = sorted(set(filters) - EXPORT_FILTERS)
    if unknown:
        raise invalid(("body", "filters"), f"Unknown filters {unknown}; use {sorted(EXPORT_FILTERS)}")
    for name, value in filters.items():
        if value is not None and not isinstance(value, str):
            raise invalid(("body", "filters", name), "Filter values must be strings")
    since = None
    if filters.get("updated_since"):
        try:
            since = clock.iso_dt(clock.parse(filters["updated_since"]))
        except (OverflowError, ValueError):
            raise invalid(("body", "filters", "updated_since"), "Invalid timestamp") from None
    with ctx.sandbox.store.tx() as tx:
        lines = contacts_db.page(
            tx, ctx.account_id, search=filters.get("search"), tag=filters.get("tag"),
            updated_since=since, dnd=None, limit=-1, offset=0,
        )  # fmt: skip
        doc = jobs.create_export(tx, ctx.account_id, lines)
    return Json(_export_view(ctx, doc), status_code=202)


def _export_view(ctx: Ctx, doc: dict[str, Any]) -> dict[str, Any]:
    url = str(ctx.request.url_for("download_export", export_id=doc["id"]))
    return jobs.export_view(doc, ctx.sandbox.config.job_seconds, clock.now(), url)


@router.get("/contacts/exports/{export_id}")
def get_export(export_id: str, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        doc = found(tx.get_object(ctx.account_id, "export", export_id), "Export")
    return Json(_export_view(ctx, doc))


@router.get(
    "/contacts/exports/{export_id}/download",
    response_class=Response,
    responses={200: {"content": {JSONL: {}}, "description": "One contact per line."}},
)
def download_export(export_id: str, ctx: CtxDep) -> Response:
    """The exported contacts as JSON lines; 409 until the job has completed."""
    with ctx.sandbox.store.tx() as tx:
        doc = found(tx.get_object(ctx.account_id, "export", export_id), "Export")
        data = tx.get_object(ctx.account_id, "export_data", export_id) or {"jsonl": ""}
    if lifecycle.job_status(doc, ctx.sandbox.config.job_seconds, clock.now()) != "completed":
        raise error(409, "Export is not ready yet")
    return Response(data["jsonl"], media_type=JSONL)


@router.get("/contacts/{contact_id}")
def get_contact(contact_id: str, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        return Json(contact_or_404(tx, ctx, contact_id))


@router.patch("/contacts/{contact_id}")
def update_contact(contact_id: str, body: ContactUpdate, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        doc = contact_or_404(tx, ctx, contact_id)
        changes = body.model_dump(exclude_unset=True)
        for name in NOT_NULL:
            if name in changes and changes[name] is None:
                raise invalid(("body", name), f"{name} cannot be null")
        doc.update(changes)
        doc["updated_at"] = clock.iso(clock.now())
        _save(tx, ctx, doc, new=False)
    return Json(doc)


@router.delete("/contacts/{contact_id}", status_code=204)
def delete_contact(contact_id: str, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        if not contacts_db.delete(tx, ctx.account_id, contact_id):
            raise error(404, LEAD_NOT_FOUND)
    return Response(status_code=204)


@router.get("/contacts/{contact_id}/timeline")
def timeline(contact_id: str, ctx: CtxDep, page: PageDep) -> Response:
    """Everything that happened with the contact, oldest first: ``[{type, id, created_at, data}]``."""
    now = clock.now()
    items: list[dict[str, Any]] = []
    with ctx.sandbox.store.tx() as tx:
        contact_or_404(tx, ctx, contact_id)
        for row in tx.conn.execute(
            "SELECT kind, id, created_at, doc FROM events WHERE account_id = ? AND contact_id = ?"
            " AND visible_at <= ?",
            (ctx.account_id, contact_id, now),
        ):
            items.append({"type": row[0], "id": row[1], "created_at": row[2], "data": json.loads(row[3])})
        for kind, when in (("task", "created_at"), ("enrollment", "enrolled_at")):
            for doc in tx.objects(ctx.account_id, kind):
                if doc.get("contact_id") == contact_id:
                    data = {k: v for k, v in doc.items() if not k.startswith("_")}
                    items.append({"type": kind, "id": doc["id"], "created_at": doc[when], "data": data})
    items.sort(key=lambda item: (item["created_at"], item["id"]))
    return Json(items[page.offset : page.offset + page.limit])


@router.get("/custom-fields")
def custom_fields(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "custom_field", page)


@router.get("/pipelines")
def pipelines(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "pipeline", page)


@router.put("/contacts/{contact_id}/stage")
def move_stage(contact_id: str, body: StageMove, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        doc = contact_or_404(tx, ctx, contact_id)
        pipeline = found(tx.get_object(ctx.account_id, "pipeline", body.pipeline_id), "Pipeline")
        if not any(stage["id"] == body.stage_id for stage in pipeline["stages"]):
            raise error(404, "Stage not found")
        doc.update(pipeline_id=body.pipeline_id, stage_id=body.stage_id)
        doc["updated_at"] = clock.iso(clock.now())
        _save(tx, ctx, doc, new=False)
    return Json(doc)
