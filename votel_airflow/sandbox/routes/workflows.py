"""Workflows: enrollments (recorded, idempotent), API triggers, variables, campaigns."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import Response

from votel_airflow.sandbox import clock, contacts_db, lifecycle
from votel_airflow.sandbox.deps import Ctx, CtxDep, IdempotencyKey, PageDep
from votel_airflow.sandbox.idempotency import run_once
from votel_airflow.sandbox.ids import new_id
from votel_airflow.sandbox.models import Enroll, Trigger, VariableSet
from votel_airflow.sandbox.responses import Json, error
from votel_airflow.sandbox.routes.listing import found, get_object, object_list
from votel_airflow.sandbox.store import Tx

router = APIRouter(tags=["workflows"])
EnrollmentStatus = Literal["active", "completed", "exited", "failed"]
VariableName = Annotated[str, Path(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


@router.get("/workflows")
def list_workflows(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "workflow", page)


@router.get("/workflows/{workflow_id}")
def get_workflow(workflow_id: str, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        return Json(get_object(tx, ctx, "workflow", workflow_id, "Workflow"))


@router.post("/workflows/{workflow_id}/enrollments")
def enroll(workflow_id: str, body: Enroll, ctx: CtxDep, idempotency_key: IdempotencyKey = None) -> Response:
    """Enroll contacts; a contact with an active or completed enrollment is not enrolled again."""

    def action(tx: Tx) -> dict[str, Any]:
        get_object(tx, ctx, "workflow", workflow_id, "Workflow")
        now = clock.now()
        seconds = ctx.sandbox.config.enrollment_seconds
        current = {
            doc["contact_id"]
            for doc in tx.objects(ctx.account_id, "enrollment", workflow_id)
            if lifecycle.enrollment_view(doc, seconds, now)["status"] in ("active", "completed")
        }
        result: dict[str, list[str]] = {"enrolled": [], "already_enrolled": [], "not_found": []}
        for contact_id in dict.fromkeys(body.contact_ids):
            if contacts_db.get(tx, ctx.account_id, contact_id) is None:
                result["not_found"].append(contact_id)
            elif contact_id in current:
                result["already_enrolled"].append(contact_id)
            else:
                _enroll_one(tx, ctx, workflow_id, contact_id, now, idempotency_key)
                result["enrolled"].append(contact_id)
        return result

    return run_once(ctx, idempotency_key, 200, action)


def _enroll_one(tx: Tx, ctx: Ctx, workflow_id: str, contact_id: str, now: float, key: str | None) -> None:
    doc: dict[str, Any] = {
        "id": new_id(),
        "workflow_id": workflow_id,
        "contact_id": contact_id,
        "status": "active",
        "enrolled_at": clock.iso(now),
        "finished_at": None,
        "_t0": now,
    }
    tx.put_object(ctx.account_id, "enrollment", doc["id"], doc, workflow_id)
    tx.record(
        ctx.account_id,
        "enrollment",
        {"id": doc["id"], "recipient": contact_id, "contact_id": contact_id,
         "workflow_id": workflow_id, "body": None, "idempotency_key": key,
         "created_at": doc["enrolled_at"]},
    )  # fmt: skip


@router.get("/workflows/{workflow_id}/enrollments")
def list_enrollments(
    workflow_id: str,
    ctx: CtxDep,
    page: PageDep,
    contact_id: str | None = None,
    status: EnrollmentStatus | None = None,
) -> Response:
    now = clock.now()
    seconds = ctx.sandbox.config.enrollment_seconds
    with ctx.sandbox.store.tx() as tx:
        get_object(tx, ctx, "workflow", workflow_id, "Workflow")
        docs = tx.objects(ctx.account_id, "enrollment", workflow_id)
    views = [
        view
        for view in (lifecycle.enrollment_view(doc, seconds, now) for doc in docs)
        if (contact_id is None or view["contact_id"] == contact_id)
        and (status is None or view["status"] == status)
    ]
    return Json(views[page.offset : page.offset + page.limit])


@router.delete("/workflows/{workflow_id}/enrollments/{enrollment_id}", status_code=204)
def unenroll(workflow_id: str, enrollment_id: str, ctx: CtxDep) -> Response:
    """Exit an active enrollment; a finished one is left as it is."""
    now = clock.now()
    with ctx.sandbox.store.tx() as tx:
        doc = found(tx.get_object(ctx.account_id, "enrollment", enrollment_id), "Enrollment")
        if doc["workflow_id"] != workflow_id:
            found(None, "Enrollment")
        view = lifecycle.enrollment_view(doc, ctx.sandbox.config.enrollment_seconds, now)
        if view["status"] == "active":
            doc.update(status="exited", finished_at=clock.iso(now))
            tx.put_object(ctx.account_id, "enrollment", enrollment_id, doc, workflow_id)
    return Response(status_code=204)


@router.post("/workflows/{workflow_id}/trigger")
def trigger(workflow_id: str, body: Trigger, ctx: CtxDep, idempotency_key: IdempotencyKey = None) -> Response:
    """Fire the workflow's API trigger with ``payload``; recorded as kind ``trigger``."""

    def action(tx: Tx) -> dict[str, Any]:
        get_object(tx, ctx, "workflow", workflow_id, "Workflow")
        doc = {
            "id": new_id(),
            "workflow_id": workflow_id,
            "status": "accepted",
            "payload": body.payload,
            "created_at": clock.iso(clock.now()),
        }
        tx.record(
            ctx.account_id,
            "trigger",
            dict(doc, recipient=workflow_id, body=None, idempotency_key=idempotency_key),
        )
        return doc

    return run_once(ctx, idempotency_key, 200, action)


@router.get("/workflow-variables")
def list_variables(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "workflow_variable", page)


@router.put("/workflow-variables/{name}")
def set_variable(name: VariableName, body: VariableSet, ctx: CtxDep) -> Response:
    doc = {"id": name, "name": name, "value": body.value, "updated_at": clock.iso(clock.now())}
    with ctx.sandbox.store.tx() as tx:
        tx.put_object(ctx.account_id, "workflow_variable", name, doc)
    return Json(doc)


def _campaign_view(doc: dict[str, Any], seconds: float, now: float) -> dict[str, Any]:
    """A campaign as it stands at ``now``: it sends while running, for ``seconds`` of running in all.

    ``_t0`` is when its current running stretch began, ``_ran`` the seconds it ran before a pause.
    """
    view = {key: value for key, value in doc.items() if not key.startswith("_")}
    t0 = doc.get("_t0")
    if t0 is None:
        return view
    paused = doc.get("_paused_at") is not None
    ran = float(doc.get("_ran", 0.0)) + (0.0 if paused else now - t0)
    progress = min(1.0, ran / seconds) if seconds > 0 else 1.0
    recipients = doc["stats"]["recipients"]
    sent = int(recipients * progress)
    delivered = int(sent * 0.95)
    view["status"] = "paused" if paused else "completed" if progress >= 1.0 else "running"
    view["stats"] = dict(doc["stats"], sent=sent, delivered=delivered, replied=delivered // 10)
    if view["status"] == "completed":
        view["completed_at"] = clock.iso(t0 + seconds - float(doc.get("_ran", 0.0)))
    return view


@router.get("/campaigns")
def list_campaigns(ctx: CtxDep, page: PageDep) -> Response:
    now = clock.now()
    seconds = ctx.sandbox.config.enrollment_seconds
    with ctx.sandbox.store.tx() as tx:
        docs = tx.objects(ctx.account_id, "campaign")
    views = [_campaign_view(doc, seconds, now) for doc in docs]
    return Json(views[page.offset : page.offset + page.limit])


@router.get("/campaigns/{campaign_id}")
def get_campaign(campaign_id: str, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        doc = get_object(tx, ctx, "campaign", campaign_id, "Campaign")
    return Json(_campaign_view(doc, ctx.sandbox.config.enrollment_seconds, clock.now()))


@router.post("/campaigns/{campaign_id}/start")
def start_campaign(campaign_id: str, ctx: CtxDep) -> Response:
    """Start a draft campaign: running, then completed after ``enrollment_seconds``; 409 twice."""
    now = clock.now()
    with ctx.sandbox.store.tx() as tx:
        doc = get_object(tx, ctx, "campaign", campaign_id, "Campaign")
        if doc.get("_t0") is not None:
            raise error(409, "Campaign already started")
        doc.update(_t0=now, status="running", started_at=clock.iso(now))
        tx.put_object(ctx.account_id, "campaign", campaign_id, doc)
    return Json(_campaign_view(doc, ctx.sandbox.config.enrollment_seconds, now))


@router.post("/campaigns/{campaign_id}/pause")
def pause_campaign(campaign_id: str, ctx: CtxDep) -> Response:
    """Pause a running campaign: nothing more is sent until it resumes; 409 when it is not running."""
    now = clock.now()
    seconds = ctx.sandbox.config.enrollment_seconds
    with ctx.sandbox.store.tx() as tx:
        doc = get_object(tx, ctx, "campaign", campaign_id, "Campaign")
        status = _campaign_view(doc, seconds, now)["status"]
        if status != "running":
            raise error(409, f"Campaign is not running ({status}); only a running campaign can be paused")
        doc.update(_ran=float(doc.get("_ran", 0.0)) + now - doc["_t0"], _paused_at=now, status="paused")
        tx.put_object(ctx.account_id, "campaign", campaign_id, doc)
        tx.record(ctx.account_id, "campaign_pause", {"id": campaign_id, "created_at": clock.iso(now)})
    return Json(_campaign_view(doc, seconds, now))


@router.post("/campaigns/{campaign_id}/resume")
def resume_campaign(campaign_id: str, ctx: CtxDep) -> Response:
    """Resume a paused campaign where it stopped; 409 when it is not paused."""
    now = clock.now()
    seconds = ctx.sandbox.config.enrollment_seconds
    with ctx.sandbox.store.tx() as tx:
        doc = get_object(tx, ctx, "campaign", campaign_id, "Campaign")
        if doc.get("_paused_at") is None:
            status = _campaign_view(doc, seconds, now)["status"]
            raise error(409, f"Campaign is not paused ({status}); only a paused campaign can be resumed")
        doc.update(_t0=now, _paused_at=None, status="running")
        tx.put_object(ctx.account_id, "campaign", campaign_id, doc)
        tx.record(ctx.account_id, "campaign_resume", {"id": campaign_id, "created_at": clock.iso(now)})
    return Json(_campaign_view(doc, seconds, now))
