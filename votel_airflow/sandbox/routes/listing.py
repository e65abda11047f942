"""Shared shapes of the section routers: paged object lists, log windows, 404s."""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi.responses import Response

from votel_airflow.sandbox import clock
from votel_airflow.sandbox.deps import Ctx, Page, Window
from votel_airflow.sandbox.logs import LogQuery, page_events
from votel_airflow.sandbox.responses import error, raw_list
from votel_airflow.sandbox.store import Tx

Doc = dict[str, Any]


def not_found(what: str) -> NoReturn:
    raise error(404, f"{what} not found")


def found(doc: Doc | None, what: str) -> Doc:
    """``doc``, or a 404 ``{"detail": "<what> not found"}``."""
    if doc is None:
        not_found(what)
    return doc


def object_list(ctx: Ctx, kind: str, page: Page, parent_id: str | None = None) -> Response:
    """A page of stored objects of one kind, answered without re-encoding."""
    with ctx.sandbox.store.tx() as tx:
        docs = tx.object_docs(ctx.account_id, kind, parent_id, page.limit, page.offset)
    return raw_list(docs)


def log_list(
    ctx: Ctx,
    kind: str,
    page: Page,
    window: Window,
    filters: dict[str, str | None] | None = None,
) -> Response:
    """A page of one kind of log rows in ``[since, until)``, ordered by ``(created_at, id)``."""
    query = LogQuery(
        ctx.account_id,
        kind,
        window.since,
        window.until,
        tuple((column, value) for column, value in (filters or {}).items() if value is not None),
        page.limit,
        page.offset,
    )
    with ctx.sandbox.store.tx() as tx:
        rows = page_events(tx, ctx.sandbox.pages, query, clock.now())
    return raw_list(row[3] for row in rows)


def get_object(tx: Tx, ctx: Ctx, kind: str, obj_id: str, what: str) -> Doc:
    return found(tx.get_object(ctx.account_id, kind, obj_id), what)
