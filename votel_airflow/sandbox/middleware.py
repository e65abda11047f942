"""The ASGI layer in front of the API: body limit, rate limit, injected faults, counters.

It is plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` so that it can cut a response
short (a dropped connection) and costs little on the hot list endpoints. The admin API and the
OpenAPI document are never limited or faulted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from votel_airflow.sandbox import clock, faults
from votel_airflow.sandbox.state import Sandbox
from votel_airflow.sandbox.store import dumps

API_PREFIX = "/api"
EXEMPT_PREFIXES = ("/api/_admin", "/api/openapi.json", "/api/docs", "/api/redoc")
DRAIN_LIMIT = 256 * 1024 * 1024
HTML_502 = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    b"<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)
_DROP_MESSAGE = "ASGI callable returned without completing response."


class _QuietDrops(logging.Filter):
    """Hide uvicorn's complaint about the responses the sandbox cuts short on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROP_MESSAGE


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


async def _send_simple(
    send: Send, status: int, body: bytes, content_type: str, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_detail(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = dumps({"detail": detail}).encode()
    await _send_simple(send, status, body, "application/json", headers or [])


class SandboxMiddleware:
    """Wraps the API app; see the module docstring for what it does, in order."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stats = self.sandbox.stats
        status_box = [0]

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = int(message["status"])
            await send(message)

        replay = await self._read_body(scope, receive)
        if replay is None:
            limit = self.sandbox.config.max_body_bytes
            await _send_detail(send, 413, f"Request body too large (limit {limit} bytes)")
            stats.count(f"{scope['method']} {scope['path'].removeprefix(API_PREFIX)}", 413)
            return
        path: str = scope["path"]
        if path.startswith(EXEMPT_PREFIXES):
            await self.app(scope, replay, send)
            return
        try:
            await self._guarded(scope, replay, counting_send)
        finally:
            # The matched route's template ("/contacts/{contact_id}") when routing got that far.
            label = getattr(scope.get("route"), "path", None)
            if not label or label == API_PREFIX:
                label = path.removeprefix(API_PREFIX)
            stats.count(f"{scope['method']} {label}", status_box[0])

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive | None:
        """Buffer the body up to the limit; ``None`` (after draining it) when it is larger."""
        limit = self.sandbox.config.max_body_bytes
        declared = _header(scope, b"content-length")
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS") and declared is None:
            return receive
        chunks: list[bytes] = []
        size = 0
        too_big = declared is not None and declared.isdigit() and int(declared) > limit
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                too_big = True
            if not too_big:
                chunks.append(chunk)
            if not message.get("more_body", False) or size > DRAIN_LIMIT:
                break
        if too_big:
            return None
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        sandbox = self.sandbox
        api_key = (_header(scope, b"x-api-key") or "").strip()
        wait = sandbox.limiter.retry_after(api_key, clock.now())
        if wait is not None:
            sandbox.stats.rate_limited += 1
            await _send_detail(send, 429, "Rate limit exceeded", [(b"retry-after", str(wait).encode())])
            return
        decision = sandbox.faults.decide(api_key)
        if decision.delay:
            sandbox.stats.faults[faults.SLOW] += 1
            await asyncio.sleep(decision.delay)
        kind = decision.kind
        if kind is None:
            await self.app(scope, receive, send)
            return
        sandbox.stats.faults[kind] += 1
        if kind == faults.BURST_429:
            pause = str(sandbox.faults.config.burst_retry_after).encode()
            await _send_detail(send, 429, "Rate limit exceeded", [(b"retry-after", pause)])
        elif kind == faults.ERROR_BEFORE:
            await _send_detail(send, 500, "Internal server error (injected before handling)")
        elif kind == faults.HTML_502:
            await _send_simple(send, 502, HTML_502, "text/html; charset=utf-8", [])
        elif kind == faults.ERROR_AFTER:
            await _handle_silently(self.app, scope, receive)
            await _send_detail(send, 500, "Internal server error (injected after handling)")
        else:
            start, body = await _handle_silently(self.app, scope, receive)
            await _drop(send, start, body)


async def _handle_silently(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[Message | None, bytes]:
    """Run the request to the end, keeping its response instead of sending it."""
    captured: dict[str, Any] = {"start": None, "body": []}

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            captured["start"] = message
        elif message["type"] == "http.response.body":
            captured["body"].append(message.get("body", b""))

    await app(scope, receive, capture)
    return captured["start"], b"".join(captured["body"])


async def _drop(send: Send, start: Message | None, body: bytes) -> None:
    """Promise more bytes than are sent, then stop: the client sees a broken response."""
    status = int(start["status"]) if start else 200
    headers = [
        (name, value)
        for name, value in (start["headers"] if start else [])
        if name.lower() != b"content-length"
    ]
    headers.append((b"content-length", str(len(body) + 1024).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
