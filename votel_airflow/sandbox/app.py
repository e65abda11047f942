"""Build the sandbox's ASGI app: the API mounted under ``/api`` behind the middleware."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from votel_airflow.sandbox.accounts import startup_accounts
from votel_airflow.sandbox.config import SandboxConfig
from votel_airflow.sandbox.faults import FaultInjector
from votel_airflow.sandbox.middleware import SandboxMiddleware
from votel_airflow.sandbox.path_changes import change_paths
from votel_airflow.sandbox.rate_limit import RateLimiter
from votel_airflow.sandbox.responses import (
    Json,
    http_error_handler,
    unencodable_handler,
    validation_error_handler,
)
from votel_airflow.sandbox.routes import (
    activity,
    admin,
    agents,
    calendars,
    click_tracking,
    communication,
    contacts,
    conversations,
    payments,
    settings,
    tasks,
    workflows,
)
from votel_airflow.sandbox.state import Sandbox
from votel_airflow.sandbox.store import Store

API_PREFIX = "/api"
API_VERSION = "1.0.0"
SECTIONS = (
    agents,
    activity,
    communication,
    conversations,
    contacts,
    tasks,
    workflows,
    calendars,
    payments,
    click_tracking,
    settings,
)


def build_api(sandbox: Sandbox | None) -> FastAPI:
    """The API itself, paths relative to ``/api`` as in the contract."""
    api = FastAPI(
        title="Votel API (sandbox)",
        version=API_VERSION,
        description="A local implementation of the Votel API contract, for tests and demos.",
        servers=[{"url": API_PREFIX}],
        default_response_class=Json,
    )
    for section in SECTIONS:
        api.include_router(section.router)
    api.include_router(admin.router)
    api.add_exception_handler(HTTPException, http_error_handler)
    api.add_exception_handler(StarletteHTTPException, http_error_handler)
    api.add_exception_handler(RequestValidationError, validation_error_handler)
    api.add_exception_handler(UnicodeEncodeError, unencodable_handler)
    api.add_exception_handler(OverflowError, unencodable_handler)
    api.state.sandbox = sandbox
    return api


def create_app(config: SandboxConfig) -> FastAPI:
    """The whole sandbox: state opened (and seeded on first use), API under ``/api``.

    ``app.state.sandbox`` is the running :class:`Sandbox`; ``app.state.startup_accounts`` the
    accounts announced at start.
    """
    store = Store(config.db)
    sandbox = Sandbox(config, store, FaultInjector(config.faults), RateLimiter(config.rate_limit))
    announced = startup_accounts(store, config)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    api = build_api(sandbox)
    change_paths(api, dict(config.renamed_paths), config.removed_paths)
    app.mount(API_PREFIX, api)
    app.add_middleware(SandboxMiddleware, sandbox=sandbox)
    app.state.sandbox = sandbox
    app.state.startup_accounts = announced
    return app
