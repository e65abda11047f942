"""Payments: the wallet every send and call is paid from, its transactions, the catalogue."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from votel_airflow.sandbox.deps import CtxDep, PageDep, WindowDep
from votel_airflow.sandbox.responses import Json
from votel_airflow.sandbox.routes.listing import log_list, object_list
from votel_airflow.sandbox.store import from_micros

router = APIRouter(tags=["payments"])


@router.get("/payments/wallet")
def wallet(ctx: CtxDep) -> Response:
    with ctx.sandbox.store.tx() as tx:
        balance = tx.balance_micros(ctx.account_id)
    return Json({"balance": from_micros(balance), "currency": "USD"})


@router.get("/payments/transactions")
def transactions(ctx: CtxDep, page: PageDep, window: WindowDep) -> Response:
    """Wallet movements in ``[since, until)``; every debit of a send or call is one."""
    return log_list(ctx, "transaction", page, window)


@router.get("/payments/products")
def products(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "product", page)


@router.get("/payments/subscriptions")
def subscriptions(ctx: CtxDep, page: PageDep) -> Response:
    return object_list(ctx, "subscription", page)
