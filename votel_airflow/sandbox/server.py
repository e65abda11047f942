"""Run the sandbox in a subprocess from Python, and drive its admin API.

This module imports only ``requests``: FastAPI and uvicorn live in the child process.
"""

from __future__ import annotations

import os
import queue
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn

import requests

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_PREFIX = "VOTEL_SANDBOX_"


class SandboxError(RuntimeError):
    """The sandbox did not start, or its admin API refused a request."""


class SandboxAdmin:
    """A thin client of the sandbox's admin API (``/api/_admin``).

    :param base_url: the sandbox's API root, e.g. ``http://127.0.0.1:8123/api``.
    :param token: its admin token (``X-Admin-Token``).
    :param timeout: seconds to wait for each admin request.
    """

    def __init__(self, base_url: str, token: str, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._session.request(
            method,
            f"{self.base_url}/_admin{path}",
            headers={"X-Admin-Token": self._token},
            timeout=self._timeout,
            **kwargs,
        )
        if response.status_code >= 400:
            raise SandboxError(f"admin {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def create_account(self, balance: float = 100.0, *, seed: bool = True) -> str:
        """A fresh tenant; returns its API key.

        :param balance: opening wallet balance.
        :param seed: fill it with the deterministic seed data (agents, contacts, logs...);
            ``False`` gives an empty account with only a wallet.
        """
        result = self._call("POST", "/accounts", json={"balance": balance, "seed": seed})
        return str(result["api_key"])

    def accounts(self) -> list[dict[str, Any]]:
        """Every account: ``[{account_id, api_key, balance}]``."""
        result: list[dict[str, Any]] = self._call("GET", "/accounts")
        return result

    def set_wallet(self, api_key: str, balance: float) -> None:
        """Set the account's wallet balance (no transaction is logged)."""
        self._call("PUT", "/wallet", json={"api_key": api_key, "balance": balance})

    def set_faults(
        self,
        *,
        error_rate: float = 0.0,
        html_502_rate: float = 0.0,
        drop_rate: float = 0.0,
        slow_rate: float = 0.0,
        slow_seconds: float = 0.0,
        burst_429: int = 0,
        fault_seed: int = 0,
        error_after_rate: float = 0.0,
        burst_retry_after: int = 1,
    ) -> None:
        """Replace the fault settings (see :class:`votel_airflow.sandbox.config.FaultConfig`)."""
        body = {
            "error_rate": error_rate,
            "html_502_rate": html_502_rate,
            "drop_rate": drop_rate,
            "slow_rate": slow_rate,
            "slow_seconds": slow_seconds,
            "burst_429": burst_429,
            "fault_seed": fault_seed,
            "error_after_rate": error_after_rate,
            "burst_retry_after": burst_retry_after,
        }
        self._call("PUT", "/faults", json=body)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def set_rate_limit(self, per_second: float | None) -> None:
        """Requests per second per API key; ``None`` turns the limit off."""
        self._call("PUT", "/rate-limit", json={"per_second": per_second})

    def set_call_stage(self, seconds: float) -> None:
        """Seconds each call spends in each stage from now on (shorter: longer calls end at once)."""
        self._call("PUT", "/call-stage", json={"seconds": seconds})

    def records(self, api_key: str, kind: str) -> list[dict[str, Any]]:
        """What reached whom: kind in sms, email, message, call, enrollment, booking, task,
        trigger; each ``{id, recipient, body, idempotency_key, created_at, ...}``."""
        result: list[dict[str, Any]] = self._call(
            "GET", "/records", params={"api_key": api_key, "kind": kind}
        )
        return result

    def stats(self) -> dict[str, Any]:
        """``{requests_total, by_status, faults, rate_limited, paths}`` since the last reset."""
        result: dict[str, Any] = self._call("GET", "/stats")
        return result

    def reset_stats(self) -> None:
        self._call("DELETE", "/stats")

    def config(self) -> dict[str, Any]:
        """The stage timings, body limit and rate limit in force."""
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def generate_call_logs(
        self, api_key: str, count: int, since: str | datetime, until: str | datetime
    ) -> None:
        """Insert ``count`` finished calls in ``[since, until)``: deterministic, fast."""
        body = {"api_key": api_key, "count": count, "since": _iso(since), "until": _iso(until)}
        self._call("POST", "/call-logs", json=body)

    def generate_contacts(self, api_key: str, count: int, *, start: int = 0) -> None:
        """Insert ``count`` contacts, numbered from ``start``: phone ``+1415`` then ``2000000 + n``,
        e-mail ``lead{n}@example.com``, some with ``dnd``, SMS in ``dnd_channels`` or a zone
        (``votel_airflow.sandbox.bulk_outreach``). Deterministic and fast."""
        self._call("POST", "/contacts", json={"api_key": api_key, "count": count, "start": start})

    def generate_messages(
        self,
        api_key: str,
        count: int,
        since: str | datetime,
        until: str | datetime,
        *,
        channel: str = "sms",
        direction: str = "outbound",
        body: str = "Hello",
    ) -> None:
        """Insert ``count`` messaging-log rows in ``[since, until)``, each to (inbound: from) one of
        the account's contacts drawn at random, linked to it. Deterministic and fast."""
        payload = {
            "api_key": api_key, "count": count, "since": _iso(since), "until": _iso(until),
            "channel": channel, "direction": direction, "body": body,
        }  # fmt: skip
        self._call("POST", "/messages", json=payload)

    def inject_inbound(
        self,
        api_key: str,
        contact_id: str | None = None,
        body: str = "",
        channel: str = "sms",
        *,
        from_: str | None = None,
        at: str | datetime | None = None,
    ) -> dict[str, Any]:
        """A message received by the account, visible at once; returns the stored message.

        :param contact_id: the contact who sent it; or give ``from_`` instead.
        :param from_: the sender's number (e-mail address for ``email``); the row is linked to
            the contact with that phone or e-mail, ``contact_id`` null when there is none.
        :param at: when it was received (default now), e.g. a STOP from last week.
        """
        if not body:
            raise ValueError("inject_inbound needs a body")
        payload: dict[str, Any] = {"api_key": api_key, "body": body, "channel": channel}
        if contact_id is not None:
            payload["contact_id"] = contact_id
        if from_ is not None:
            payload["from"] = from_
        if at is not None:
            payload["at"] = _iso(at)
        result: dict[str, Any] = self._call("POST", "/inbound", json=payload)
        return result


def _iso(value: str | datetime) -> str:
    return value.isoformat() if isinstance(value, datetime) else value


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


class SandboxServer:
    """A sandbox in a subprocess (``python -m votel_airflow.sandbox --port 0``); a context manager.

    Stage timings default to fast values for tests; the CLI's defaults are slower.

    :param seed: seed of the fake data; ``None`` starts with empty accounts.
    :param db: SQLite file for the state; ``None`` keeps it in memory. With a file, a sandbox
        stopped and started again with the same ``db`` and ``port`` is, to its clients, the same
        server back after an outage.
    :param port: TCP port on loopback; 0 picks a free one.
    :param rate_limit: requests per second per API key; ``None`` for no limit.
    :param call_stage_seconds: seconds a call spends queued, ringing and in progress, each.
    :param message_stage_seconds: seconds a message spends queued, then sent.
    :param enrollment_seconds: seconds an enrollment stays active (and a campaign runs).
    :param job_seconds: seconds an import or export spends pending, then processing.
    :param reply_seconds: delay of the "YES" reply of contacts whose phone ends in 7.
    :param renamed_paths: ``{old: new}`` API path templates served and documented under the new
        path (a service that differs from the contract), e.g. ``{"/tasks": "/todos"}``.
    :param removed_paths: API path templates neither served nor documented.
    :param today: the day the seeded week of logs leads up to (``--today``); ``None`` leaves it
        to ``VOTEL_SANDBOX_TODAY`` in this process's environment, else the real UTC day.
    :param extra_args: further CLI arguments, e.g. ``["--error-rate", "0.1"]``.
    """

    def __init__(
        self,
        *,
        seed: int | None = 1,
        db: str | None = None,
        port: int = 0,
        rate_limit: float | None = None,
        call_stage_seconds: float = 0.2,
        message_stage_seconds: float = 0.1,
        enrollment_seconds: float = 0.2,
        job_seconds: float = 0.1,
        reply_seconds: float = 0.2,
        renamed_paths: Mapping[str, str] | None = None,
        removed_paths: Sequence[str] = (),
        today: date | str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.base_url = ""
        self.api_keys: list[str] = []
        self.admin_token = secrets.token_hex(16)
        self.admin = SandboxAdmin("http://127.0.0.1:0/api", self.admin_token)
        args = [f"--admin-token={self.admin_token}"]
        args += ["--no-seed"] if seed is None else ["--seed", str(seed)]
        if db is not None:
            args += ["--db", db]
        if rate_limit is not None:
            args += ["--rate-limit", str(rate_limit)]
        if today is not None:
            args += ["--today", today.isoformat() if isinstance(today, date) else today]
        args += [
            "--call-stage-seconds", str(call_stage_seconds),
            "--message-stage-seconds", str(message_stage_seconds),
            "--enrollment-seconds", str(enrollment_seconds),
            "--job-seconds", str(job_seconds),
            "--reply-seconds", str(reply_seconds),
        ]  # fmt: skip
        args += [f"--rename-path={old}={new}" for old, new in (renamed_paths or {}).items()]
        args += [f"--remove-path={path}" for path in removed_paths]
        self._port = port
        self._args = [*args, *extra_args]
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1].split("/", 1)[0])

    def start(self) -> SandboxServer:
        """Start the subprocess and wait until it accepts requests."""
        if self._proc is not None:
            raise SandboxError("sandbox already started")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(part for part in (_package_root(), env.get("PYTHONPATH")) if part)
        env["PYTHONUNBUFFERED"] = "1"
        # Kept open for the life of the child, which writes to it; closed by stop().
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        cmd = [sys.executable, "-m", "votel_airflow.sandbox", "--port", str(self._port), *self._args]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env)
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(self._proc, lines), daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        keys: list[str] = []
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self._fail("did not announce itself in time")
            if line is None:
                self._fail("exited during start-up")
            name, _, value = line.partition("=")
            if name == f"{_PREFIX}URL":
                self.base_url = value
            elif name == f"{_PREFIX}API_KEY":
                keys.append(value)
            elif name == f"{_PREFIX}ADMIN_TOKEN":
                self.admin_token = value
            elif name == f"{_PREFIX}READY":
                break
        self.api_keys = keys
        self.admin = SandboxAdmin(self.base_url, self.admin_token)
        return self

    def _fail(self, what: str) -> NoReturn:
        err = b""
        if self._stderr is not None:
            self._stderr.seek(0)
            err = self._stderr.read()[-4000:]
        self.stop()
        raise SandboxError(f"votel sandbox {what}: {err.decode(errors='replace')}")

    def stop(self) -> None:
        """SIGTERM, wait, then SIGKILL if it has not stopped."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    """Forward the child's stdout lines (so its pipe never fills); ``None`` at its end."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line.rstrip("\n"))
    lines.put(None)
