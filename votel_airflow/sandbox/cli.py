"""``votel-sandbox``: run the sandbox, or export its OpenAPI document.

On start it prints, one per line and flushed, ``VOTEL_SANDBOX_URL=...``, one
``VOTEL_SANDBOX_API_KEY=...`` per announced account, ``VOTEL_SANDBOX_ADMIN_TOKEN=...`` and
finally ``VOTEL_SANDBOX_READY``. SIGINT and SIGTERM stop it cleanly.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import date
from typing import Any, TypeVar

from votel_airflow.sandbox.config import (
    DEFAULT_BALANCE,
    DEFAULT_MAX_BODY_BYTES,
    TODAY_ENV,
    FaultConfig,
    SandboxConfig,
)
from votel_airflow.sandbox.path_changes import parse_rename

#: What the server needs beyond the provider's own dependencies: the ``sandbox`` extra.
SERVER_MODULES = ("fastapi", "starlette", "uvicorn", "pydantic")
INSTALL_HINT = "pip install 'airflow-provider-votel[sandbox]'"
_Config = TypeVar("_Config", FaultConfig, SandboxConfig)


def missing_server_modules() -> list[str]:
    """The server's modules that cannot be imported here (none when the extra is installed)."""
    import importlib

    missing = []
    for name in SERVER_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def _day(text: str) -> date:
    """A ``--today`` value: a calendar date, ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: give YYYY-MM-DD (from --today or {TODAY_ENV})"
        ) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="votel-sandbox",
        description="A local Votel API implementing the contract, with faults on demand.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    p.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    p.add_argument("--db", default=None, help="SQLite file for the state (default: in memory)")
    p.add_argument("--seed", type=int, default=1, help="seed of the fake data (default: 1)")
    p.add_argument("--no-seed", action="store_true", help="create the accounts empty")
    p.add_argument(
        "--today",
        type=_day,
        # Read at parse time, so a suite that exports the variable pins every sandbox it starts.
        default=os.environ.get(TODAY_ENV) or None,
        metavar="YYYY-MM-DD",
        help=f"the day the seeded week of logs leads up to (default: ${TODAY_ENV}, else the real UTC day)",
    )
    p.add_argument("--accounts", type=int, default=2, help="seeded accounts on a new database")
    p.add_argument("--api-key", action="append", default=[], help="extra account (repeatable)")
    p.add_argument("--balance", type=float, default=DEFAULT_BALANCE, help="opening balance")
    p.add_argument("--admin-token", default=None, help="admin API token (default: random)")
    p.add_argument("--rate-limit", type=float, default=None, help="requests/s per API key")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of injected 500s")
    p.add_argument("--html-502-rate", type=float, default=0.0, help="share of HTML 502 pages")
    p.add_argument("--drop-rate", type=float, default=0.0, help="share of dropped responses")
    p.add_argument("--slow-rate", type=float, default=0.0, help="share of slow answers")
    p.add_argument("--slow-seconds", type=float, default=0.0, help="delay of a slow answer")
    p.add_argument(
        "--error-after-rate", type=float, default=0.0, help="share of 500s after the request was done"
    )
    p.add_argument(
        "--no-idempotency",
        action="store_true",
        help="ignore Idempotency-Key: a repeated request is done again (a server without the guarantee)",
    )
    p.add_argument("--burst-429", type=int, default=0, help="first N requests per key get 429")
    p.add_argument(
        "--burst-retry-after", type=int, default=1, help="Retry-After of the --burst-429 answers, seconds"
    )
    p.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws")
    p.add_argument("--call-stage-seconds", type=float, default=1.0)
    p.add_argument("--message-stage-seconds", type=float, default=0.5)
    p.add_argument("--enrollment-seconds", type=float, default=1.0)
    p.add_argument("--job-seconds", type=float, default=0.5)
    p.add_argument("--reply-seconds", type=float, default=1.0)
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    p.add_argument(
        "--rename-path",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="serve and document the API path OLD as NEW, e.g. /tasks=/todos (repeatable; for tests)",
    )
    p.add_argument(
        "--remove-path",
        action="append",
        default=[],
        metavar="PATH",
        help="neither serve nor document the API path PATH, e.g. /tasks (repeatable; for tests)",
    )
    p.add_argument("--log-level", default="warning", help="uvicorn log level")
    p.add_argument("--export-openapi", metavar="PATH", default=None, help="write the OpenAPI JSON and exit")
    return p


def _from_args(cls: type[_Config], args: argparse.Namespace, **given: Any) -> _Config:
    """``cls`` built from the options named like its fields, and ``given`` for the others."""
    named = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**named, **given})


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    faults = _from_args(FaultConfig, args)
    faults.validate()
    if args.rate_limit is not None and args.rate_limit <= 0:
        raise ValueError("--rate-limit must be positive")
    return _from_args(
        SandboxConfig,
        args,
        seed=None if args.no_seed else args.seed,
        api_keys=tuple(args.api_key),
        admin_token=args.admin_token or secrets.token_hex(16),
        faults=faults,
        idempotency=not args.no_idempotency,
        renamed_paths=tuple(parse_rename(option) for option in args.rename_path),
        removed_paths=tuple(args.remove_path),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``votel-sandbox`` and ``python -m votel_airflow.sandbox``."""
    parser = _parser()
    args = parser.parse_args(argv)
    missing = missing_server_modules()
    if missing:
        # Airflow brings these today, but a slimmer install need not: say what to install.
        print(
            f"votel-sandbox needs {', '.join(missing)}, which this environment lacks; "
            f"install the sandbox's dependencies: {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
    if args.export_openapi:
        from votel_airflow.sandbox.openapi import export_openapi

        print(export_openapi(args.export_openapi))
        return 0
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    for key in config.api_keys:
        if not key.startswith("sk_"):
            parser.error(f"--api-key {key!r} must start with sk_")
    from votel_airflow.sandbox.serve import serve

    return serve(config, sys.stdout, args.log_level)
