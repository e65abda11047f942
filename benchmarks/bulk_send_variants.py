"""The bulk-send variants, each run in a fresh child process (see ``child.py``).

- ``ours``: ``SendSmsOperator(to=numbers, rate_limit=..., max_concurrency=...).execute(context)``;
- ``naive``: what a ``PythonOperator`` callable typically does: a ``requests`` loop that retries
  on any error (a 429, a 500, a reset) with a fixed sleep and no ``Idempotency-Key``.
"""

from __future__ import annotations

import time
from typing import Any

SMS_PATH = "/communication/sms"
BODY = "Your appointment is confirmed. Reply STOP to opt out."
NAIVE_ATTEMPTS = 5
NAIVE_SLEEP = 1.0


def recipients(count: int) -> list[str]:
    """``count`` distinct E.164 numbers; none ends in 7 (those contacts would reply)."""
    numbers: list[str] = []
    n = 0
    while len(numbers) < count:
        if n % 10 != 7:
            numbers.append(f"+1415600{n:04d}" if n < 10_000 else f"+141560{n:05d}")
        n += 1
    return numbers


def prepare_ours() -> None:
    from votel_airflow.operators.communication import SendSmsOperator  # noqa: F401


def ours(count: int, rate_limit: float, max_concurrency: int, **policy: Any) -> dict[str, Any]:
    """Our operator, straight ``execute()``; the connection comes from AIRFLOW_CONN_VOTEL_DEFAULT.

    ``policy``: outreach-policy arguments of the operator (``max_per_recipient``, ...), for the
    outreach benchmark's send. A failed task is returned as ``error``, not raised.
    """
    from benchmarks.common import make_context
    from votel_airflow.operators.communication import SendSmsOperator

    op = SendSmsOperator(
        task_id="send",
        to=recipients(count),
        body=BODY,
        rate_limit=rate_limit,
        max_concurrency=max_concurrency,
        **policy,
    )
    started = time.perf_counter()
    error = ""
    summary: dict[str, Any] = {}
    try:
        summary = op.execute(make_context("2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"))
    except Exception as exc:  # a failed task is a result here, not a crash of the benchmark
        error = f"{type(exc).__name__}: {exc}"[:500]
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "sent": summary.get("sent", 0),
        "failed": summary.get("failed", 0),
        "error": error,
    }


def prepare_naive() -> None:
    import requests  # noqa: F401


def naive(count: int, base_url: str, api_key: str) -> dict[str, Any]:
    """A sequential loop with naive retries: any error is retried, nothing makes it safe."""
    import requests

    session = requests.Session()
    headers = {"X-API-Key": api_key}
    sent = failed = attempts = 0
    started = time.perf_counter()
    for number in recipients(count):
        for _attempt in range(NAIVE_ATTEMPTS):
            attempts += 1
            try:
                response = session.post(
                    base_url + SMS_PATH, json={"to": number, "body": BODY}, headers=headers, timeout=30
                )
                response.raise_for_status()
            except requests.RequestException:
                time.sleep(NAIVE_SLEEP)
                continue
            sent += 1
            break
        else:
            failed += 1
    return {
        "seconds": time.perf_counter() - started,
        "sent": sent,
        "failed": failed,
        "attempts": attempts,
        "error": "",
    }
