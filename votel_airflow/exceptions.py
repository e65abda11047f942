"""Typed errors for Votel API failures, one class per failure the user handles differently.

Every public error of the package lives here, so a DAG catches any of them without importing an
operator module.

Every error carries the HTTP status, the server's ``detail``, the method and the path; never the
API key, never a dumped response body. ``str()`` reads like
``404 Not Found on GET /contacts/c-1: Lead not found``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from votel_airflow.compat import AirflowException, AirflowFailException

# A wrong base URL answers every path with FastAPI's generic route-miss detail; saying so saves
# users from hunting for a missing contact that was never the problem.
_ROUTE_MISS_DETAIL = "Not Found"
#: Where FastAPI says a parameter was: the first element of a validation error's ``loc``.
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


class VotelError(AirflowException):
    """A Votel API call failed.

    :param message: what went wrong, for the user.
    :param status_code: the HTTP status, or None when no response arrived.
    :param detail: the server's ``detail`` (a string, or FastAPI's list of errors).
    :param method: HTTP method of the failed call.
    :param path: API path of the failed call, relative to the base URL.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        detail: Any = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        # AirflowException declares status_code as an HTTPStatus class attribute; ours is per call.
        self.status_code: int | None = status_code  # type: ignore[assignment]
        self.detail = detail
        self.method = method
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only state must survive pickling (Airflow ships exceptions between processes).
        return (_rebuild, (type(self), str(self), self.__dict__.copy()))


def _rebuild(cls: type[VotelError], message: str, state: dict[str, Any]) -> VotelError:
    error = cls.__new__(cls)
    AirflowException.__init__(error, message)
    error.__dict__.update(state)
    return error


class VotelConfigurationError(VotelError, AirflowFailException):
    """The connection is unusable; fix it, retrying will not help (so the task fails without retries)."""


class VotelUnsafeRetryError(VotelConfigurationError):
    """A retried task's verb would send again where nothing can tell what its earlier try sent.

    The connection says the server ignores ``Idempotency-Key`` (``server_idempotency`` false), and
    this Airflow keeps nothing between tries (the task state store arrived in 3.3), so a second
    request could reach the person twice. Raised before any request; the task fails without
    retries, since another try would be just as blind.

    :param verb: the hook verb, e.g. ``send_sms``.
    :param recipient: whom it would reach (a number, an address or a contact id).
    :param try_number: the task's try that refused.
    """

    def __init__(self, *, verb: str, recipient: str, try_number: int) -> None:
        # Masked as the task log masks it (Airflow's secrets masker), as the send preview writes it.
        from votel_airflow.compat import redact

        shown = redact(recipient)
        super().__init__(
            f"{verb}() to {shown}: this is try {try_number} of the task, and an earlier try may have "
            f"reached {shown} already. The connection says the server ignores Idempotency-Key "
            "(server_idempotency=false), and this Airflow keeps no record of an earlier try's answer "
            "(the task state store arrived in 3.3), so sending again could reach them twice. Nothing "
            "was sent. Run on Airflow 3.3 or later, where the earlier try's answer is kept and returned; "
            "or, if the server does honour Idempotency-Key, set server_idempotency to true on the "
            "connection; or handle the retry yourself: look up what the earlier try sent (the messaging "
            f"or call log, or a record of your own) and call {verb}(..., screen=False) only for what is "
            "missing, or give the task retries=0."
        )
        self.verb = verb
        self.recipient = recipient
        self.try_number = try_number


class VotelInputError(VotelError, AirflowFailException):
    """An operator argument is invalid; raised before any request, and never retried.

    :param message: names the field, the bad value and the fix.
    :param field: the argument at fault.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class VotelBadRequestError(VotelError):
    """400, 409 or 422: the request was refused as invalid or conflicting."""


class VotelAuthError(VotelError):
    """401: the API key is missing, wrong or revoked."""


class VotelPaymentRequiredError(VotelError):
    """402: the wallet cannot pay for this call."""


class VotelPermissionError(VotelError):
    """403: the plan or the key's permissions do not allow this call."""


class VotelNotFoundError(VotelError):
    """404: the object (or, with a wrong base URL, the path) does not exist."""


class VotelRateLimitError(VotelError):
    """429 after every retry: the API kept asking us to slow down.

    :param retry_after: seconds the server last asked to wait, if it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class VotelServerError(VotelError):
    """5xx, a non-JSON answer, or no answer at all after every retry."""


class VotelInterruptedError(VotelError):
    """A request was waiting (for the account's pace, a ``Retry-After`` or a retry's backoff) when
    its hook was interrupted (the task's ``on_kill``): it was not sent, or not sent again."""


class VotelOutcomeUnknownError(VotelServerError, AirflowFailException):
    """A request with a side effect failed ambiguously (a timeout, a connection lost after sending,
    a 5xx) on a connection whose server ignores ``Idempotency-Key`` (``server_idempotency``
    false): it may have taken effect, so it is not sent again, by the hook or by a task retry."""


class VotelAmbiguousRecipientsError(VotelOutcomeUnknownError):
    """Some sends failed ambiguously on a server that ignores ``Idempotency-Key``; with
    ``on_ambiguous="fail"`` the task fails (without retries) once every other recipient is done."""


class VotelRecipientsRefusedError(VotelBadRequestError, AirflowFailException):
    """The API refused some recipients (400/404/409/422); a retry would be refused again."""


class VotelContactsNotFoundError(VotelNotFoundError, AirflowFailException):
    """Some contacts to enroll do not exist; retrying cannot create them, so no retries."""


class VotelDuplicateContactError(VotelBadRequestError, AirflowFailException):
    """409: a contact with this phone or e-mail exists; retrying cannot help (so no retries).

    :param message: which field clashed and what to do.
    """


class VotelTooManyFailedRowsError(VotelError, AirflowFailException):
    """More rows failed than ``max_failed_rows`` allows; retrying would fail the same rows again.

    :param message: the counts and the first failures' details.
    :param summary: the import's summary (as the task would have returned it).
    """

    def __init__(self, message: str, *, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


class VotelWalletTooLowError(VotelPaymentRequiredError, AirflowFailException):
    """The wallet cannot pay for the planned campaign; raised before any send, never retried.

    :param message: the balance, the amount required and what to do.
    """


class VotelSlotTakenError(VotelBadRequestError, AirflowFailException):
    """409: the slot is booked already; retrying the same slot cannot help (so no retries).

    :param message: the calendar, the slot and what to do.
    """


class VotelWaitFailed(AirflowFailException):
    """The awaited object reached a failing state (a failed call, an undelivered message...)."""


class VotelMappedCallIdError(VotelInputError):
    """A mapped wait started in the triggerer found no call id of its own in its upstream's output.

    The waits are mapped over that output, so this means it changed after the mapping (the
    upstream was cleared and returned fewer ids) or is not a list; polling cannot fix it, so the
    task fails without retries.

    :param wait: task id of the mapped wait.
    :param map_index: the wait's map index, the item it looked for.
    :param task_id: the upstream task whose output holds the call ids.
    :param key: the XCom key of that output.
    :param found: what the output held: its length, or the type when it is not a list.
    """

    def __init__(self, *, wait: str, map_index: int, task_id: str, key: str, found: int | str) -> None:
        if isinstance(found, int):
            returned = f"{found} call ids"
        else:
            returned = "nothing" if found == "NoneType" else f"a {found} instead of a list of call ids"
        super().__init__(
            f"wait #{map_index} of {wait!r}: {task_id!r} returned {returned} (key {key!r}), none for map "
            f"index {map_index}; map the wait over that same output (e.g. .expand(call_id={task_id}())), "
            f"and clear the waits together with {task_id!r} when it runs again so they are mapped anew",
            field="call_id",
        )
        self.wait = wait
        self.map_index = map_index
        self.task_id = task_id
        self.key = key
        self.found = found


#: The names these errors had before they all lived here without exception, kept for one release.
#: Pickles made before the rename name the old module and name, which still resolve to these.
DuplicateContactError = VotelDuplicateContactError
TooManyFailedRowsError = VotelTooManyFailedRowsError
WalletTooLowError = VotelWalletTooLowError
SlotTakenError = VotelSlotTakenError


_ERROR_BY_STATUS: dict[int, type[VotelError]] = {
    400: VotelBadRequestError,
    401: VotelAuthError,
    402: VotelPaymentRequiredError,
    403: VotelPermissionError,
    404: VotelNotFoundError,
    409: VotelBadRequestError,
    422: VotelBadRequestError,
    429: VotelRateLimitError,
}


def render_detail(detail: Any) -> str:
    """Render a ``detail`` for people: FastAPI's error list becomes ``field: message`` pairs."""
    if isinstance(detail, list):
        return "; ".join(_render_validation_item(item) for item in detail)
    if isinstance(detail, str):
        return detail
    return json.dumps(detail, sort_keys=True, default=str)


def _render_validation_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = [str(part) for part in item.get("loc", [])]
    # Only the first element says where the field was (FastAPI's "body", "query", ...); a later
    # "body" is a field of that name, e.g. an SMS's text, and must stay in the message.
    if loc and loc[0] in _LOCATIONS:
        loc = loc[1:]
    field = ".".join(loc) or "request"
    return f"{field}: {item.get('msg', 'invalid')}"


def status_line(status_code: int) -> str:
    """The status with its reason phrase, e.g. ``404 Not Found``."""
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "HTTP error"
    return f"{status_code} {phrase}"


def error_from_response(
    *,
    status_code: int,
    content_type: str,
    body: bytes,
    method: str,
    path: str,
    retry_after: float | None = None,
    base_url: str | None = None,
    location: str | None = None,
) -> VotelError:
    """Map a failed response to its typed error, shared by the sync and the async hook.

    :param status_code: the response status.
    :param content_type: the response ``Content-Type`` header ("" when absent).
    :param body: the raw response body; only a JSON ``detail`` is ever quoted from it.
    :param method: HTTP method of the call.
    :param path: API path of the call.
    :param retry_after: parsed ``Retry-After`` seconds, for 429.
    :param base_url: the base URL, named in the hint for a route miss.
    :param location: the ``Location`` of a redirect, named in the hint to fix the Base URL.
    """
    head = f"{status_line(status_code)} on {method} {path}"
    detail: Any = None
    error_cls: type[VotelError] | None
    # Without a Content-Type the body may still be JSON (some proxies drop the header): try it.
    is_json = "json" in content_type.lower() or not content_type.strip()
    if is_json:
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        detail = payload.get("detail") if isinstance(payload, dict) else None
    if detail is None:
        # An HTML error page from a proxy says nothing useful and may be huge: describe it.
        shown = content_type.split(";")[0].strip() or "no content type"
        what = "answer without a detail" if "json" in content_type.lower() else "non-JSON answer"
        message = f"{head}: {what} ({shown}, {len(body)} bytes)"
        if 300 <= status_code < 400:
            message += (
                f"; redirected to {location or 'an unnamed address'}: check the scheme, host and /api of "
                "the connection's Base URL"
            )
        error_cls = VotelServerError if status_code >= 500 or status_code < 400 else None
    else:
        message = f"{head}: {render_detail(detail)}"
        error_cls = None
        if status_code == 404 and detail == _ROUTE_MISS_DETAIL:
            message += f" (no such path under {base_url or 'the base URL'}: check the connection's Base URL)"
    if error_cls is None:
        error_cls = _ERROR_BY_STATUS.get(status_code, VotelServerError if status_code >= 500 else VotelError)
    kwargs: dict[str, Any] = {"status_code": status_code, "detail": detail, "method": method, "path": path}
    if error_cls is VotelRateLimitError:
        return VotelRateLimitError(message, retry_after=retry_after, **kwargs)
    return error_cls(message, **kwargs)


__all__ = [
    "DuplicateContactError",
    "SlotTakenError",
    "TooManyFailedRowsError",
    "VotelAmbiguousRecipientsError",
    "VotelApprovalRequiredError",
    "VotelAuthError",
    "VotelBadRequestError",
    "VotelConfigurationError",
    "VotelContactsNotFoundError",
    "VotelDuplicateContactError",
    "VotelError",
    "VotelInputError",
    "VotelMappedCallIdError",
    "VotelNotFoundError",
    "VotelOutcomeUnknownError",
    "VotelPaymentRequiredError",
    "VotelPermissionError",
    "VotelRateLimitError",
    "VotelRecipientsRefusedError",
    "VotelServerError",
    "VotelSlotTakenError",
    "VotelTooManyFailedRowsError",
    "VotelUnsafeRetryError",
    "VotelWaitFailed",
    "VotelWalletTooLowError",
    "WalletTooLowError",
    "error_from_response",
    "render_detail",
    "status_line",
]


class VotelQuietHoursError(VotelError, AirflowFailException):
    """Recipients are inside their quiet hours and the send was told to fail (``on_quiet_hours="fail"``)
    before reaching anyone; a retry in the same hour would fail again."""


class VotelApprovalRequiredError(VotelError, AirflowFailException):
    """A send over ``require_approval_above`` recipients had no approval in its run; nothing was
    sent, and a retry would be refused again (so the task fails without retries)."""
