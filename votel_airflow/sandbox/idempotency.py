"""Idempotency keys: a repeat of a key returns the first response and does nothing again.

Keys are scoped to the account, the method and the path. Only successful responses are kept,
so a request refused with, say, 402 can be retried with the same key once the wallet is topped
up. The check, the action and the stored response share one transaction, so two concurrent
requests with the same key cannot both act. ``votel-sandbox --no-idempotency`` ignores the
keys, as a server without the guarantee would: every request is done again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import Response

from votel_airflow.sandbox.deps import Ctx
from votel_airflow.sandbox.responses import JSON
from votel_airflow.sandbox.store import Tx, dumps

REPLAY_HEADER = "Idempotent-Replayed"


def run_once(ctx: Ctx, key: str | None, status: int, action: Callable[[Tx], dict[str, Any]]) -> Response:
    """Run ``action`` in a transaction unless ``key`` was seen; answer its JSON with ``status``."""
    method = ctx.request.method
    path = ctx.request.url.path
    if not ctx.sandbox.config.idempotency:
        key = None
    with ctx.sandbox.store.tx() as tx:
        if key:
            seen = tx.idempotent_response(ctx.account_id, method, path, key)
            if seen is not None:
                return Response(
                    seen[1], status_code=seen[0], media_type=JSON, headers={REPLAY_HEADER: "true"}
                )
        body = dumps(action(tx))
        if key:
            tx.remember_response(ctx.account_id, method, path, key, status, body)
    return Response(body, status_code=status, media_type=JSON)
