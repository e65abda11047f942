"""Fixtures of the reliability suite, and the end-of-session table of scenario figures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.figures import FIGURES, LAST_RUN, markdown_table
from tests.support import serve_http
from votel_airflow.sandbox.server import SandboxServer

CONN_ID = "votel_default"
#: Enough retries to ride out a 429 burst of 4 (each answered ``Retry-After: 1``) plus bad luck.
MAX_RETRIES = 8


def connection_json(base_url: str, api_key: str, **extra: Any) -> str:
    """A ``votel`` connection in the JSON form of ``AIRFLOW_CONN_*``."""
    conn: dict[str, Any] = {"conn_type": "votel", "host": base_url, "password": api_key}
    if extra:
        conn["extra"] = json.dumps(extra)
    return json.dumps(conn)


@pytest.fixture
def use_connection(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point ``votel_default`` at the sandbox with a given key and extras; returns the setter."""

    def _use(api_key: str, **extra: Any) -> str:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sandbox.base_url, api_key, **extra)
        )
        return CONN_ID

    return _use


@pytest.fixture(scope="module")
def careless_server() -> Iterator[SandboxServer]:
    """A sandbox that ignores Idempotency-Key, as the real API may (``--no-idempotency``)."""
    with SandboxServer(extra_args=["--no-idempotency"]) as server:
        yield server


@pytest.fixture(params=[False], ids=["empty"])
def account(
    careless_server: SandboxServer, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A fresh account; ``use(**extra)`` points ``votel_default`` at it with those extras."""
    key = careless_server.admin.create_account(balance=1000.0, seed=request.param)

    def use(**extra: Any) -> str:
        conn = {"conn_type": "votel", "host": careless_server.base_url, "password": key, "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps(conn))
        return key

    yield use
    careless_server.admin.clear_faults()


@pytest.fixture
def dags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGs folder that ``dag.test()`` also syncs from (it re-reads the configured bundle)."""
    from airflow import settings

    folder = tmp_path / "dags"
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(folder))
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(folder))
    return folder


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print every scenario's figures, and keep them in ``last-run.md`` for the closing note."""
    if not FIGURES:
        return
    table = markdown_table(FIGURES)
    terminalreporter.write_sep("=", "reliability figures")
    terminalreporter.write(table)
    LAST_RUN.write_text("# Reliability figures of the last run\n\n" + table)


class _StubHandler(BaseHTTPRequestHandler):
    """Answers the API can give but the sandbox does not: a web page instead of JSON, and a 403."""

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/forbidden/"):
            body = json.dumps(
                {"detail": "Upgrade required: your plan does not include this feature"}
            ).encode()
            status, content_type = 403, "application/json"
        else:
            body = b"<!DOCTYPE html><html><body><h1>Votel</h1><p>Sign in</p></body></html>"
            status, content_type = 200, "text/html; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = _answer


@pytest.fixture(scope="session")
def stub_url() -> Iterator[str]:
    """Root URL of a local server answering ``/html/...`` with a web page and ``/forbidden/...`` with 403."""
    with serve_http(_StubHandler) as root:
        yield root
