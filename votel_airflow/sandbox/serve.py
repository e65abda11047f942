"""Run the app under uvicorn on a socket we bind ourselves, so port 0 can be announced."""

from __future__ import annotations

import asyncio
import signal
import socket
from types import FrameType
from typing import TextIO

import uvicorn

from votel_airflow.sandbox.app import create_app
from votel_airflow.sandbox.config import SandboxConfig

READY = "VOTEL_SANDBOX_READY"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it comes with uvicorn[standard]), else the default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Signal handler that does nothing (see :func:`serve`)."""


def base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/api"


def serve(config: SandboxConfig, out: TextIO, log_level: str = "warning") -> int:
    """Serve until SIGINT or SIGTERM; announce the URL, keys and token once accepting."""
    app = create_app(config)
    sandbox = app.state.sandbox
    sock = _bind(config.host, config.port)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
            http="auto",
        )
    )

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            lines = [f"VOTEL_SANDBOX_URL={base_url(config.host, port)}"]
            lines += [f"VOTEL_SANDBOX_API_KEY={a.api_key}" for a in app.state.startup_accounts]
            lines += [f"VOTEL_SANDBOX_ADMIN_TOKEN={config.admin_token}", READY]
            out.write("\n".join(lines) + "\n")
            out.flush()
        await task

    # uvicorn handles SIGINT/SIGTERM while serving, then re-raises them to the handlers it
    # found; no-op handlers there let the process close the database and exit 0.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _ignore)
    loop = _new_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
        sock.close()
        sandbox.store.close()
    return 0 if server.started else 1
