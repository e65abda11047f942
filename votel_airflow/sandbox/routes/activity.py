"""Activity: one call's live status, call/meeting/messaging logs, aggregated reports."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from votel_airflow.sandbox import clock, lifecycle
from votel_airflow.sandbox.deps import Ctx, CtxDep, Page, PageDep, Window, WindowDep
from votel_airflow.sandbox.logs import LogQuery, page_events
from votel_airflow.sandbox.models import Channel
from votel_airflow.sandbox.responses import Json, error, invalid, raw_list
from votel_airflow.sandbox.routes.listing import log_list, not_found
from votel_airflow.sandbox.store import dumps

router = APIRouter(tags=["activity"])
CallStatus = Literal[
    "queued", "ringing", "in_progress", "completed", "failed", "no_answer", "busy", "canceled"
]
MAX_REPORT_DAYS = 366
IN_FLIGHT = ("queued", "ringing", "in_progress")


@router.get("/activity/calls/{call_id}")
def get_call(call_id: str, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        row = tx.get_event(ctx.account_id, "call", call_id, pending=True)
    if row is None:
        not_found("Call")
    doc = json.loads(row["doc"])
    if row["t0"] is not None:
        doc = lifecycle.call_view(doc, row["t0"], ctx.sandbox.config.call_stage_seconds, clock.now())
    return Json(doc)


@router.post("/activity/calls/{call_id}/cancel")
def cancel_call(call_id: str, ctx: CtxDep) -> Response:
    """Hang up or drop a call that has not ended: ``canceled`` at once, in the logs from now; 409 after."""
    now = clock.now()
    with ctx.sandbox.store.tx() as tx:
        row = tx.get_event(ctx.account_id, "call", call_id, pending=True)
        if row is None:
            not_found("Call")
        doc = json.loads(row["doc"])
        canceled = lifecycle.canceled_call(doc, row["t0"], ctx.sandbox.config.call_stage_seconds, now)
        if canceled is None:
            raise error(409, f"Call already ended ({doc['status']}); nothing to cancel")
        tx.end_event(ctx.account_id, "call", call_id, canceled, "canceled", now)
        tx.record(ctx.account_id, "call_cancel", {"id": call_id, "created_at": clock.iso(now)})
    return Json(canceled)


@router.get("/activity/call-logs")
def call_logs(
    ctx: CtxDep,
    page: PageDep,
    window: WindowDep,
    agent_id: str | None = None,
    status: CallStatus | None = None,
) -> Response:
    """Finished calls, ordered by ``(created_at, id)``; a started call appears once it ends.

    Filtering on a status of a call still going (queued, ringing, in_progress) lists the calls in
    flight instead, as they stand now: what an emergency stop needs to cancel. Windows of ended
    calls, which extracts read, never change.
    """
    if status in IN_FLIGHT:
        return _calls_in_flight(ctx, page, window, agent_id, status)
    return log_list(ctx, "call", page, window, {"k1": agent_id, "k2": status})


def _calls_in_flight(ctx: Ctx, page: Page, window: Window, agent_id: str | None, status: str) -> Response:
    now = clock.now()
    stage = ctx.sandbox.config.call_stage_seconds
    sql = (
        "SELECT doc, t0 FROM events WHERE account_id = ? AND kind = 'call'"
        " AND t0 IS NOT NULL AND visible_at > ?"
    )
    params: list[Any] = [ctx.account_id, now]
    for clause, value in (
        ("k1 = ?", agent_id),
        ("created_at >= ?", window.since),
        ("created_at < ?", window.until),
    ):
        if value is not None:
            sql += f" AND {clause}"
            params.append(value)
    with ctx.sandbox.store.tx() as tx:
        rows = tx.conn.execute(sql + " ORDER BY created_at, id", params).fetchall()
    views = [lifecycle.call_view(json.loads(row[0]), row[1], stage, now) for row in rows]
    matching = [view for view in views if view["status"] == status]
    return Json(matching[page.offset : page.offset + page.limit])


@router.get("/activity/meeting-logs")
def meeting_logs(ctx: CtxDep, page: PageDep, window: WindowDep) -> Response:
    return log_list(ctx, "meeting", page, window)


@router.get("/activity/messaging-logs")
def messaging_logs(
    ctx: CtxDep,
    page: PageDep,
    window: WindowDep,
    direction: Literal["inbound", "outbound"] | None = None,
    channel: Channel | None = None,
    contact_id: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Messages in and out, ordered by ``(created_at, id)``: every send the API accepted, every reply."""
    filters = (("k2", direction), ("channel", channel), ("contact_id", contact_id))
    query = LogQuery(
        ctx.account_id,
        "message",
        window.since,
        window.until,
        tuple((column, value) for column, value in filters if value is not None),
        page.limit,
        page.offset,
    )
    now = clock.now()
    stage = ctx.sandbox.config.message_stage_seconds
    with ctx.sandbox.store.tx() as tx:
        rows = page_events(tx, ctx.sandbox.pages, query, now)
    return raw_list(
        row[3]
        if row[2] is None or now - row[2] >= 2 * stage
        else dumps(lifecycle.message_view(json.loads(row[3]), row[2], stage, now))
        for row in rows
    )


def _report_window(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    try:
        end = clock.parse(clock.iso_dt(until)) if until else clock.parse(clock.iso(clock.now()))
        start = clock.parse(clock.iso_dt(since)) if since else end - timedelta(days=30)
    except (OverflowError, ValueError):
        raise invalid(("query", "since"), "Timestamp out of range") from None
    if start >= end:
        raise invalid(("query", "until"), "until must be after since")
    if end - start > timedelta(days=MAX_REPORT_DAYS):
        raise invalid(("query", "since"), f"A report covers at most {MAX_REPORT_DAYS} days")
    return start, end


@router.get("/activity/reports/{kind}")
def report(
    kind: Literal["phone", "widget", "workflow"],
    ctx: CtxDep,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> Response:
    """Aggregates over ``[since, until)`` (default: the 30 days before now)."""
    start, end = _report_window(since, until)
    lo, hi = clock.iso_dt(start), clock.iso_dt(end)
    with ctx.sandbox.store.tx() as tx:
        if kind == "phone":
            rows: list[dict[str, Any]] = [
                {
                    "date": r[0],
                    "calls": r[1],
                    "completed": r[2],
                    "no_answer": r[3],
                    "busy": r[4],
                    "failed": r[5],
                    "duration_seconds": r[6],
                    "cost": round(r[7], 4),
                }
                for r in tx.conn.execute(
                    "SELECT substr(created_at, 1, 10), COUNT(*), SUM(k2 = 'completed'),"
                    " SUM(k2 = 'no_answer'), SUM(k2 = 'busy'), SUM(k2 = 'failed'),"
                    " SUM(json_extract(doc, '$.duration_seconds')),"
                    " SUM(json_extract(doc, '$.cost')) FROM events"
                    " WHERE account_id = ? AND kind = 'call' AND created_at >= ?"
                    " AND created_at < ? AND visible_at <= ? GROUP BY 1 ORDER BY 1",
                    (ctx.account_id, lo, hi, clock.now()),
                )
            ]
        elif kind == "workflow":
            now = clock.now()
            seconds = ctx.sandbox.config.enrollment_seconds
            rows = []
            for workflow in tx.objects(ctx.account_id, "workflow"):
                counts = {"active": 0, "completed": 0, "exited": 0, "failed": 0}
                for doc in tx.objects(ctx.account_id, "enrollment", workflow["id"]):
                    if lo <= doc["enrolled_at"] < hi:
                        counts[lifecycle.enrollment_view(doc, seconds, now)["status"]] += 1
                rows.append(
                    {"workflow_id": workflow["id"], "name": workflow["name"],
                     "enrolled": sum(counts.values()), **counts}
                )  # fmt: skip
        else:
            rows = _widget_rows(ctx.account_id, start, end)
    return Json({"kind": kind, "since": lo, "until": hi, "rows": rows})


def _widget_rows(account_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Chat widget sessions per day: made up, but the same for the same account and day."""
    rows = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        digest = hashlib.sha256(f"{account_id}:{day.date()}".encode()).digest()
        sessions = digest[0] % 40
        rows.append(
            {"date": day.date().isoformat(), "sessions": sessions, "leads": digest[1] % (sessions + 1)}
        )
        day += timedelta(days=1)
    return rows
