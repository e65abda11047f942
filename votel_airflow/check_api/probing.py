"""Probing mode: without a document, ask the API itself, with safe reads only.

Only ``GET`` s without path parameters are sent (they read, and need no id the check would have to
invent), with ``limit=1`` on lists, one after the other under the hook's request policy, so the
connection's pacing and rate limit hold. Every other operation is reported "not checked". How an
answer is read:

- 2xx: the path exists and takes our parameters: ok;
- 404 with FastAPI's ``{"detail": "Not Found"}``: no such path: missing;
- 401 / 402 / 403: the path exists, this key may not use it: not allowed;
- 405, 422 and other 4xx: the path exists, our request differs (the server's ``detail`` shown);
- 429 past the retries, 5xx: not checked, with the reason;
- a 2xx or 4xx that is not the API's JSON (an HTML page): the base URL reaches a web page, not
  the API: the check stops.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from votel_airflow import endpoints
from votel_airflow.check_api.results import CheckAborted, EndpointResult, Status
from votel_airflow.exceptions import (
    VotelAuthError,
    VotelError,
    VotelNotFoundError,
    VotelPaymentRequiredError,
    VotelPermissionError,
    VotelRateLimitError,
    VotelServerError,
    render_detail,
)

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelHook

#: FastAPI's answer for a path it does not route (and so the contract's, the service being FastAPI).
ROUTE_MISS_DETAIL = "Not Found"


def is_safe_read(method: str, path: str) -> bool:
    """Whether probing sends this operation: a ``GET`` that needs no id."""
    return method == "GET" and not endpoints.placeholders(path)


def probe(hook: VotelHook, operations: Iterable[tuple[str, str]]) -> list[EndpointResult]:
    """The verdict on each operation, sending only the safe reads.

    :param hook: the connection's hook.
    :param operations: ``(method, path template)`` pairs of the catalogue.
    """
    results = []
    for method, path in operations:
        if not is_safe_read(method, path):
            why = "has path parameters" if method == "GET" else "not a safe read: never sent"
            results.append(EndpointResult(method, path, Status.NOT_CHECKED, why))
            continue
        params = None if path in endpoints.SINGLE_DOCUMENTS else {"limit": 1}
        results.append(_read(hook, path, params))
    return results


def _read(hook: VotelHook, path: str, params: dict[str, int] | None) -> EndpointResult:
    try:
        hook.get(path, params=params)
    except VotelError as exc:
        return _verdict(hook, path, exc)
    return EndpointResult("GET", path, Status.OK)


def _verdict(hook: VotelHook, path: str, exc: VotelError) -> EndpointResult:
    detail = render_detail(exc.detail) if exc.detail is not None else ""
    status = exc.status_code
    if status is None:
        raise CheckAborted(f"no answer from {hook.settings.base_url}: {exc}")
    not_the_api = isinstance(exc, VotelServerError) and status < 300
    if exc.detail is None and status < 500 and status not in (401, 403, 429):
        not_the_api = True  # a 2xx or 4xx page without the API's JSON detail, e.g. HTML
    if not_the_api:
        raise CheckAborted(
            f"{hook.settings.base_url} answers GET {path} with a page that is not the API's JSON "
            f"({status}): check that the connection's Base URL is the API's root (it ends in /api)"
        )
    if isinstance(exc, VotelNotFoundError):
        if exc.detail == ROUTE_MISS_DETAIL:
            return EndpointResult("GET", path, Status.MISSING, "404: no such path")
        return EndpointResult("GET", path, Status.DIFFERS, f"404: {detail}")
    if isinstance(exc, VotelAuthError | VotelPermissionError | VotelPaymentRequiredError):
        return EndpointResult("GET", path, Status.NOT_ALLOWED, f"{status}: {detail or 'refused'}")
    if isinstance(exc, VotelRateLimitError):
        return EndpointResult("GET", path, Status.NOT_CHECKED, "429: still rate limited after the retries")
    if status >= 500:
        return EndpointResult("GET", path, Status.NOT_CHECKED, f"{status}: server error")
    return EndpointResult("GET", path, Status.DIFFERS, f"{status}: {detail or 'our parameters differ'}")
