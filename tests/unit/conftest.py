"""Fixtures for the unit tests: a ``votel`` connection in the environment, recorded waits, a tiny API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.support import serve_http

API = "https://votel.test/api"
KEY = "sk_test_7Qm2Vx9Lp4Rz8Kd3Nw6Tb1Hy5Jc0Fg"
AGENTS = [{"id": "a-1", "name": "Sales Assistant", "enabled": True}, {"id": "a-2", "name": "Support"}]

SetConnection = Callable[..., None]


@pytest.fixture
def set_connection(monkeypatch: pytest.MonkeyPatch) -> SetConnection:
    """Put a ``votel`` connection into ``AIRFLOW_CONN_<ID>`` (JSON form, as users write it)."""

    def _set(
        *,
        host: str | None = API,
        password: str | None = KEY,
        extra: Any = None,
        conn_id: str = "votel_default",
    ) -> None:
        conn: dict[str, Any] = {"conn_type": "votel", "host": host, "password": password}
        if extra is not None:
            conn["extra"] = extra if isinstance(extra, str) else json.dumps(extra)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))

    return _set


@pytest.fixture
def votel_conn(set_connection: SetConnection) -> None:
    """The default connection: base URL ``API``, key ``KEY``, no extras."""
    set_connection()


@pytest.fixture
def sleeps(mocker: Any) -> list[float]:
    """Every wait the sync hook asks for, in seconds, without waiting."""
    waits: list[float] = []
    mocker.patch(
        "votel_airflow.hooks.votel._wait", side_effect=lambda _interrupted, seconds: waits.append(seconds)
    )
    return waits


@pytest.fixture
def async_sleeps(mocker: Any) -> list[float]:
    """Every wait the async hook asks for, in seconds, without waiting."""
    waits: list[float] = []

    async def _record(seconds: float) -> None:
        waits.append(seconds)

    mocker.patch("votel_airflow.hooks.votel.asyncio.sleep", side_effect=_record)
    return waits


class _ApiHandler(BaseHTTPRequestHandler):
    """A few fixed answers of the Votel API, keyed on path, checking ``X-API-Key`` like the real one."""

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.headers.get("X-API-Key") != KEY:
            self._json(401, {"detail": "Invalid API key"})
            return
        path = self.path.split("?")[0]
        if path == "/api/agents":
            self._json(200, AGENTS)
        elif path == "/api/communication/sms":
            self._json(201, {"id": "m-1", "status": "queued"})
        elif path == "/api/boom":
            self._json(500, {"detail": "Internal Server Error"})
        elif path == "/api/slow-down":
            self._json(429, {"detail": "Too many requests"}, {"Retry-After": "0"})
        elif path == "/api/proxy":
            self._send(502, b"<html><body>upstream exploded</body></html>", "text/html")
        else:
            self._json(404, {"detail": "Not Found"})

    do_GET = do_POST = _answer


@pytest.fixture(scope="session")
def local_api() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering like the Votel API; yields its base URL."""
    with serve_http(_ApiHandler) as root:
        yield f"{root}/api"
