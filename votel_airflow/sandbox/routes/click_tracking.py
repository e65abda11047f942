"""Click tracking: short links, their clicks, conversions, traffic sources."""

from __future__ import annotations

import secrets

from fastapi import APIRouter
from fastapi.responses import Response

from votel_airflow.sandbox import clock
from votel_airflow.sandbox.deps import CtxDep, PageDep, WindowDep
from votel_airflow.sandbox.ids import new_id
from votel_airflow.sandbox.models import TrackingLinkCreate
from votel_airflow.sandbox.responses import Json
from votel_airflow.sandbox.routes.listing import get_object, log_list, object_list

router = APIRouter(tags=["click_tracking"])
SHORT_HOST = "https://vtl.sandbox.votel.invalid"


@router.post("/tracking-links", status_code=201)
def create_link(body: TrackingLinkCreate, ctx: CtxDep) -> Response:
    doc = {
        "id": new_id(),
        **body.model_dump(),
        "short_url": f"{SHORT_HOST}/{secrets.token_hex(4)}",
        "created_at": clock.iso(clock.now()),
    }
    with ctx.sandbox.store.tx() as tx:
        tx.put_object(ctx.account_id, "tracking_link", doc["id"], doc)
    return Json(doc, status_code=201)


@router.get("/tracking-links")
def list_links(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "tracking_link", page)


@router.get("/tracking-links/{link_id}/clicks")
def clicks(link_id: str, ctx: CtxDep, page: PageDep, window: WindowDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        get_object(tx, ctx, "tracking_link", link_id, "Tracking link")
    return log_list(ctx, "click", page, window, {"k1": link_id})


@router.get("/conversions")
def conversions(ctx: CtxDep, page: PageDep, window: WindowDep) -> Response:
    return log_list(ctx, "conversion", page, window)


@router.get("/traffic-sources")
def traffic_sources(ctx: CtxDep, page: PageDep) -> Response:
    """``[{source, clicks, conversions}]`` over all time, busiest first."""
    with ctx.sandbox.store.tx() as tx:
        rows = tx.conn.execute(
            "SELECT k2, SUM(kind = 'click'), SUM(kind = 'conversion') FROM events"
            " WHERE account_id = ? AND kind IN ('click', 'conversion') AND k2 IS NOT NULL"
            " GROUP BY k2 ORDER BY 2 DESC, 1 LIMIT ? OFFSET ?",
            (ctx.account_id, page.limit, page.offset),
        ).fetchall()
    return Json([{"source": r[0], "clicks": r[1], "conversions": r[2]} for r in rows])
