"""Settings: users, sub-accounts, phone numbers, integrations, domains (read-only)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from votel_airflow.sandbox.deps import CtxDep, PageDep
from votel_airflow.sandbox.routes.listing import object_list

router = APIRouter(tags=["settings"])


@router.get("/settings/users")
def users(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "user", page)


@router.get("/settings/sub-accounts")
def sub_accounts(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "sub_account", page)


@router.get("/settings/phone-numbers")
def phone_numbers(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "phone_number", page)


@router.get("/settings/integrations")
def integrations(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "integration", page)


@router.get("/settings/domains")
def domains(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "domain", page)
