"""Agents: configuration, versions, knowledge base, voices, and outbound AI calls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from votel_airflow.sandbox import clock, contacts_db, lifecycle
from votel_airflow.sandbox.deps import CtxDep, IdempotencyKey, PageDep
from votel_airflow.sandbox.idempotency import run_once
from votel_airflow.sandbox.ids import new_id
from votel_airflow.sandbox.messaging import debit, our_number
from votel_airflow.sandbox.models import AgentCreate, AgentUpdate, CallStart, KnowledgeDocCreate
from votel_airflow.sandbox.responses import Json, error
from votel_airflow.sandbox.routes.listing import found, get_object, object_list
from votel_airflow.sandbox.store import Tx

router = APIRouter(tags=["agents"])
CALL_COST = 0.10


@router.get("/agents")
def list_agents(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "agent", page)


@router.get("/agents/{agent_id}")
def get_agent(agent_id: str, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        return Json(get_object(tx, ctx, "agent", agent_id, "Agent"))


@router.post("/agents", status_code=201)
def create_agent(body: AgentCreate, ctx: CtxDep) -> Response:
    stamp = clock.iso(clock.now())
    doc = {
        "id": new_id(),
        **body.model_dump(),
        "deployed_version_id": None,
        "created_at": stamp,
        "updated_at": stamp,
    }
    with ctx.sandbox.store.tx() as tx:
        tx.put_object(ctx.account_id, "agent", doc["id"], doc)
    return Json(doc, status_code=201)


@router.patch("/agents/{agent_id}")
def update_agent(agent_id: str, body: AgentUpdate, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        doc = get_object(tx, ctx, "agent", agent_id, "Agent")
        doc.update(body.model_dump(exclude_unset=True))
        doc["updated_at"] = clock.iso(clock.now())
        tx.put_object(ctx.account_id, "agent", agent_id, doc)
    return Json(doc)


@router.get("/agents/{agent_id}/versions")
def list_versions(agent_id: str, ctx: CtxDep, page: PageDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        get_object(tx, ctx, "agent", agent_id, "Agent")
    return object_list(ctx, "agent_version", page, agent_id)


@router.post("/agents/{agent_id}/versions", status_code=201)
def create_version(agent_id: str, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        agent = get_object(tx, ctx, "agent", agent_id, "Agent")
        versions = tx.objects(ctx.account_id, "agent_version", agent_id)
        doc: dict[str, Any] = {
            "id": new_id(),
            "agent_id": agent_id,
            "number": max((v["number"] for v in versions), default=0) + 1,
            "created_at": clock.iso(clock.now()),
            "deployed": False,
            "config": {k: agent[k] for k in ("name", "prompt", "voice_id", "enabled")},
        }
        tx.put_object(ctx.account_id, "agent_version", doc["id"], doc, agent_id)
    return Json(doc, status_code=201)


@router.post("/agents/{agent_id}/versions/{version_id}/deploy")
def deploy_version(agent_id: str, version_id: str, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        agent = get_object(tx, ctx, "agent", agent_id, "Agent")
        versions = tx.objects(ctx.account_id, "agent_version", agent_id)
        target = found(next((v for v in versions if v["id"] == version_id), None), "Version")
        for version in versions:
            version["deployed"] = version["id"] == version_id
            tx.put_object(ctx.account_id, "agent_version", version["id"], version, agent_id)
        agent["deployed_version_id"] = version_id
        tx.put_object(ctx.account_id, "agent", agent_id, agent)
    return Json(dict(target, deployed=True))


@router.get("/agents/{agent_id}/knowledge-base/documents")
def list_documents(agent_id: str, ctx: CtxDep, page: PageDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        get_object(tx, ctx, "agent", agent_id, "Agent")
    return object_list(ctx, "kb_document", page, agent_id)


@router.post("/agents/{agent_id}/knowledge-base/documents", status_code=201)
def add_document(agent_id: str, body: KnowledgeDocCreate, ctx: CtxDep) -> Response:
    doc = {"id": new_id(), "agent_id": agent_id, **body.model_dump()}
    doc["created_at"] = clock.iso(clock.now())
    with ctx.sandbox.store.tx() as tx:
        get_object(tx, ctx, "agent", agent_id, "Agent")
        tx.put_object(ctx.account_id, "kb_document", doc["id"], doc, agent_id)
    return Json(doc, status_code=201)


@router.delete("/agents/{agent_id}/knowledge-base/documents/{doc_id}", status_code=204)
def delete_document(agent_id: str, doc_id: str, ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        get_object(tx, ctx, "agent", agent_id, "Agent")
        doc = found(tx.get_object(ctx.account_id, "kb_document", doc_id), "Document")
        if doc["agent_id"] != agent_id:
            raise error(404, "Document not found")
        tx.delete_object(ctx.account_id, "kb_document", doc_id)
    return Response(status_code=204)


@router.get("/tts-voices")
def list_voices(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "tts_voice", page)


@router.post("/agents/{agent_id}/calls", status_code=201)
def start_call(
    agent_id: str, body: CallStart, ctx: CtxDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Start an outbound AI call; costs 0.10 at start. See :mod:`..lifecycle` for its course."""

    def action(tx: Tx) -> dict[str, Any]:
        agent = get_object(tx, ctx, "agent", agent_id, "Agent")
        if not agent.get("enabled", True):
            raise error(400, "Agent is disabled")
        if body.contact_id is not None and contacts_db.get(tx, ctx.account_id, body.contact_id) is None:
            raise error(404, "Lead not found")
        return place_call(tx, ctx.sandbox.config.call_stage_seconds, ctx.account_id, agent_id, body,
                          idempotency_key)  # fmt: skip

    return run_once(ctx, idempotency_key, 201, action)


def place_call(
    tx: Tx, stage: float, account_id: str, agent_id: str, body: CallStart, key: str | None
) -> dict[str, Any]:
    t0 = clock.now()
    call_id = new_id()
    debit(tx, account_id, CALL_COST, f"Call to {body.to}", call_id)
    status, outcome = lifecycle.call_end(body.to)
    answered = status == lifecycle.COMPLETED
    end = t0 + lifecycle.CALL_STAGES * stage
    final: dict[str, Any] = {
        "id": call_id,
        "agent_id": agent_id,
        "contact_id": body.contact_id,
        "direction": "outbound",
        "from": our_number(tx, account_id),
        "to": body.to,
        "status": status,
        "created_at": clock.iso(t0),
        "started_at": clock.iso(t0 + 2 * stage) if answered else None,
        "ended_at": clock.iso(end),
        "duration_seconds": lifecycle.call_duration(body.to) if answered else 0,
        "cost": CALL_COST,
        "outcome": outcome,
        "summary": lifecycle.SUMMARIES[outcome or status],
        "transcript": lifecycle.TRANSCRIPTS[outcome] if outcome else None,
        "recording_url": f"https://recordings.sandbox.votel.invalid/{call_id}.mp3" if answered else None,
    }
    tx.insert_event(
        account_id, "call", call_id, final["created_at"], final, visible_at=end, t0=t0,
        contact_id=body.contact_id, k1=agent_id, k2=status,
    )  # fmt: skip
    tx.record(
        account_id,
        "call",
        {
            "id": call_id,
            "recipient": body.to,
            "agent_id": agent_id,
            "contact_id": body.contact_id,
            "body": None,
            "variables": body.variables or {},
            "idempotency_key": key,
            "created_at": final["created_at"],
        },
    )
    return lifecycle.call_view(final, t0, stage, t0)
