"""Which transport failures (requests or httpx) may have reached the server, and which came from TLS.

The retry policy (:mod:`.retry`) decides on a :class:`~votel_airflow.hooks.retry.Failure`; this
module reads one off each HTTP library's exceptions, importing neither until asked.
"""

from __future__ import annotations

import ssl
import sys
from typing import TYPE_CHECKING

from votel_airflow.hooks.retry import Failure

if TYPE_CHECKING:
    import httpx


def is_tls_failure(exc: BaseException) -> bool:
    """Whether a transport error (requests or httpx) came from TLS, anywhere in what it wraps."""
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, ssl.SSLError):
            return True
        # No requests error can exist unless requests was imported: do not import it to ask.
        requests_exceptions = sys.modules.get("requests.exceptions")
        if requests_exceptions is not None and isinstance(current, requests_exceptions.SSLError):
            return True
        seen.add(id(current))
        # requests wraps urllib3's MaxRetryError in args[0], which holds the cause in .reason.
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending += list(current.args[:1])
    return False


def transient_requests_errors() -> tuple[type[Exception], ...]:
    """Failures of the network or the peer.

    Anything else requests raises (a bad URL, a bad header) is a mistake that would fail the same
    way on every retry.
    """
    import requests

    return (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.ContentDecodingError,
    )


def requests_failure(exc: Exception) -> Failure:
    """Whether a requests transport error may have reached the server."""
    import requests
    import urllib3

    # A refused or timed-out connect never reached the server; anything later might have.
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Failure.NOT_SENT
    reason = exc.args[0] if exc.args else None
    inner = getattr(reason, "reason", reason)
    # NameResolutionError (a DNS failure) is a NewConnectionError too: nothing was sent.
    if isinstance(inner, urllib3.exceptions.NewConnectionError):
        return Failure.NOT_SENT
    return Failure.MAYBE_SENT


def httpx_failure(exc: httpx.TransportError) -> Failure:
    """Whether an httpx transport error may have reached the server."""
    import httpx

    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return Failure.NOT_SENT
    return Failure.MAYBE_SENT
