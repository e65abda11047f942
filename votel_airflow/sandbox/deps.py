"""Request dependencies: the account behind the API key, paging, time windows, the sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Security
from fastapi.security import APIKeyHeader

from votel_airflow.sandbox import clock
from votel_airflow.sandbox.jobs import settle_imports
from votel_airflow.sandbox.responses import error, invalid
from votel_airflow.sandbox.state import Sandbox
from votel_airflow.sandbox.store import Account

MAX_LIMIT = 500
MAX_OFFSET = 1_000_000_000

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def current_account(
    request: Request, api_key: Annotated[str | None, Security(_api_key_header)] = None
) -> Account:
    account = get_sandbox(request).store.account_for_key(api_key or "")
    if account is None:
        raise error(401, "Invalid or missing API key")
    return account


@dataclass(frozen=True)
class Ctx:
    """What a handler needs: the sandbox, the caller's account and the request."""

    sandbox: Sandbox
    account: Account
    request: Request

    @property
    def account_id(self) -> str:
        return self.account.id


def get_ctx(request: Request, account: Annotated[Account, Depends(current_account)]) -> Ctx:
    sandbox = get_sandbox(request)
    if account.id in sandbox.store.pending_imports:
        with sandbox.store.tx() as tx:
            settle_imports(tx, account.id, sandbox.config.job_seconds, clock.now())
    return Ctx(sandbox, account, request)


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def get_page(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, at most 500.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")] = 0,
) -> Page:
    return Page(limit, offset)


def stamp(value: datetime | None, name: str, where: str = "query") -> str | None:
    """A client timestamp in stored form; one that cannot be moved to UTC is a 422."""
    if value is None:
        return None
    try:
        return clock.iso_dt(value)
    except (OverflowError, ValueError):
        raise invalid((where, name), "Timestamp out of range") from None


@dataclass(frozen=True)
class Window:
    since: str | None
    until: str | None


def get_window(
    since: Annotated[datetime | None, Query(description="Inclusive lower bound.")] = None,
    until: Annotated[datetime | None, Query(description="Exclusive upper bound.")] = None,
) -> Window:
    return Window(stamp(since, "since"), stamp(until, "until"))


CtxDep = Annotated[Ctx, Depends(get_ctx)]
PageDep = Annotated[Page, Depends(get_page)]
WindowDep = Annotated[Window, Depends(get_window)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="A repeat of the key returns the first response and does nothing again.",
    ),
]
