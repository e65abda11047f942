"""Tasks: create, filter, update; every created task is recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from votel_airflow.sandbox import clock, contacts_db
from votel_airflow.sandbox.deps import CtxDep, PageDep, stamp
from votel_airflow.sandbox.ids import new_id
from votel_airflow.sandbox.models import TaskCreate, TaskUpdate
from votel_airflow.sandbox.responses import Json, error
from votel_airflow.sandbox.routes.listing import get_object, object_list
from votel_airflow.sandbox.store import Tx

router = APIRouter(tags=["tasks"])
TaskStatus = Literal["open", "in_progress", "done"]


def _check_refs(tx: Tx, account_id: str, contact_id: str | None, assignee_id: str | None) -> None:
    if contact_id is not None and contacts_db.get(tx, account_id, contact_id) is None:
        raise error(404, "Lead not found")
    if assignee_id is not None and tx.get_object(account_id, "user", assignee_id) is None:
        raise error(404, "User not found")


@router.get("/tasks")
def list_tasks(
    ctx: CtxDep,
    page: PageDep,
    assignee_id: str | None = None,
    status: TaskStatus | None = None,
    due_before: Annotated[datetime | None, Query()] = None,
) -> Response:
    """Tasks in creation order; ``due_before`` keeps tasks due strictly before it."""
    before = stamp(due_before, "due_before")
    with ctx.sandbox.store.tx() as tx:
        docs = tx.objects(ctx.account_id, "task")
    docs = [
        doc
        for doc in docs
        if (assignee_id is None or doc["assignee_id"] == assignee_id)
        and (status is None or doc["status"] == status)
        and (before is None or (doc["due_at"] is not None and doc["due_at"] < before))
    ]
    return Json(docs[page.offset : page.offset + page.limit])


@router.post("/tasks", status_code=201)
def create_task(body: TaskCreate, ctx: CtxDep) -> Response:
    now = clock.iso(clock.now())
    doc: dict[str, Any] = {
        "id": new_id(),
        "title": body.title,
        "contact_id": body.contact_id,
        "assignee_id": body.assignee_id,
        "due_at": stamp(body.due_at, "due_at", "body"),
        "status": "open",
        "custom_fields": body.custom_fields,
        "created_at": now,
        "updated_at": now,
    }
    with ctx.sandbox.store.tx() as tx:
        _check_refs(tx, ctx.account_id, body.contact_id, body.assignee_id)
        tx.put_object(ctx.account_id, "task", doc["id"], doc)
        tx.record(
            ctx.account_id,
            "task",
            {"id": doc["id"], "recipient": body.assignee_id, "contact_id": body.contact_id,
             "body": body.title, "idempotency_key": None, "created_at": now},
        )  # fmt: skip
    return Json(doc, status_code=201)


@router.patch("/tasks/{task_id}")
def update_task(task_id: str, body: TaskUpdate, ctx: CtxDep) -> Response:
    changes = body.model_dump(exclude_unset=True)
    if "due_at" in changes:
        changes["due_at"] = stamp(body.due_at, "due_at", "body")
    with ctx.sandbox.store.tx() as tx:
        doc = get_object(tx, ctx, "task", task_id, "Task")
        _check_refs(tx, ctx.account_id, None, changes.get("assignee_id"))
        if "title" in changes and changes["title"] is None:
            changes.pop("title")
        if "status" in changes and changes["status"] is None:
            changes.pop("status")
        doc.update(changes)
        doc["updated_at"] = clock.iso(clock.now())
        tx.put_object(ctx.account_id, "task", task_id, doc)
    return Json(doc)


@router.get("/task-views")
def task_views(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "task_view", page)
