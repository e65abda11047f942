"""What the sync and the async hook share: connection settings, request shaping, and the
settling of each answer (or failure) into a result, a wait before retrying, or a typed error."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from votel_airflow import __version__
from votel_airflow.compat import BaseHook
from votel_airflow.defaults import DEFAULT_CONN_ID
from votel_airflow.exceptions import (
    VotelError,
    VotelOutcomeUnknownError,
    VotelServerError,
    error_from_response,
    status_line,
)
from votel_airflow.hooks.connection import ConnectionFields, ConnectionSettings, settings_from_connection
from votel_airflow.hooks.network import mask, secrets_of
from votel_airflow.hooks.pacing import AdaptivePacer, pacer_for
from votel_airflow.hooks.retry import Failure, Outcome, RetryPolicy, parse_retry_after
from votel_airflow.hooks.transport import is_tls_failure

if TYPE_CHECKING:
    # requests and httpx are imported where a request is made, not at DAG parse time.
    import httpx
    import requests

    _Response = requests.Response | httpx.Response

USER_AGENT = f"airflow-provider-votel/{__version__}"


@dataclass(frozen=True)
class _Prepared:
    """One request as both hooks send it, and whether a retry may repeat it."""

    method: str
    #: The API path, as errors and logs name it.
    path: str
    url: str
    query: dict[str, Any]
    body: bytes | None
    headers: dict[str, str]
    #: A retry may repeat it (an idempotency key the server honours).
    idempotent: bool
    #: An ambiguous failure ends in VotelOutcomeUnknownError (a key the server ignores).
    unrepeatable: bool


class VotelHookBase(BaseHook):
    """Connection handling and request shaping shared by the sync and the async hook."""

    conn_name_attr = "votel_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "votel"
    hook_name = "Votel"

    def __init__(
        self,
        votel_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_after_max: float | None = None,
        paced: bool = True,
    ) -> None:
        super().__init__()
        self.votel_conn_id = votel_conn_id
        self._timeout = timeout
        self._max_retries = max_retries
        self._retry_after_max = retry_after_max
        self._paced = paced
        self._settings: ConnectionSettings | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(votel_conn_id={self.votel_conn_id!r})"

    def _settings_from(self, conn: Any, *, mask_key: bool = True) -> ConnectionSettings:
        fields = asdict(ConnectionFields.of(conn))
        settings = settings_from_connection(
            self.votel_conn_id,
            timeout=self._timeout,
            max_retries=self._max_retries,
            retry_after_max=self._retry_after_max,
            **fields,
        )
        if mask_key:
            mask(settings.api_key.reveal())
        # Rare, and not masked by the shared lookup: masked by every hook that has them.
        for secret in secrets_of(settings.proxy, settings.extra_headers):
            mask(secret)
        return settings

    @property
    def policy(self) -> RetryPolicy:
        """The retry policy in force, from the connection and the hook's arguments."""
        settings = self.settings
        return RetryPolicy(max_retries=settings.max_retries, retry_after_max=settings.retry_after_max)

    @property
    def settings(self) -> ConnectionSettings:
        if self._settings is None:
            self._settings = self._settings_from(self.get_connection(self.votel_conn_id))
        return self._settings

    @property
    def pacer(self) -> AdaptivePacer | None:
        """This process's pacer of the connection's account, or None with ``adaptive_pacing`` off
        (or on a hook built with ``paced=False``)."""
        settings = self.settings
        if not settings.adaptive_pacing or not self._paced:
            return None
        return pacer_for(settings.base_url, settings.api_key.reveal())

    def _pace_answer(self, pacer: AdaptivePacer | None, status: int, retry_after: str | None) -> None:
        """Tell the pacer how the API took a request: a 429 slows the process, anything else not."""
        if pacer is None:
            return
        if status == 429:
            asked = parse_retry_after(retry_after)
            # The pause holds every caller of the account on this machine, so it is capped as this
            # hook caps its own wait: a server's "Retry-After: 86400" must not park them all a day.
            pacer.on_throttled(None if asked is None else min(asked, self.policy.retry_after_max))
        else:
            pacer.on_success()

    def url_for(self, path: str) -> str:
        """Absolute URL of an API path (a catalogue path, already filled)."""
        if not path.startswith("/"):
            raise ValueError(f"API path must start with '/', got {path!r}")
        return self.settings.base_url + path

    def _headers(
        self, headers: Mapping[str, str] | None, idempotency_key: str | None, has_body: bool
    ) -> dict[str, str]:
        merged = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **dict(self.settings.extra_headers),
            **(headers or {}),
            # Last, so nothing can replace it (the connection refuses an extra header of that name).
            "X-API-Key": self.settings.api_key.reveal(),
        }
        if has_body:
            merged["Content-Type"] = "application/json"
        if idempotency_key:
            merged["Idempotency-Key"] = idempotency_key
        return merged

    def _decode(
        self,
        method: str,
        path: str,
        status: int,
        content_type: str,
        body: bytes,
        parse: Callable[[bytes], Any] = json.loads,
    ) -> Any:
        if status >= 300:
            raise self._error(method, path, status, content_type, body, None)
        if not body:
            return None
        if content_type and "json" not in content_type.lower():
            # A 200 HTML page is the web app answering a base URL that lacks "/api".
            shown = content_type.split(";")[0].strip()
            raise VotelServerError(
                f"{status_line(status)} on {method} {path}: non-JSON answer ({shown}, {len(body)} bytes); "
                "check that the connection's Base URL ends in /api",
                status_code=status,
                method=method,
                path=path,
            )
        try:
            return parse(body)
        except ValueError:
            raise VotelServerError(
                f"{status_line(status)} on {method} {path}: malformed JSON ({len(body)} bytes)",
                status_code=status,
                method=method,
                path=path,
            ) from None

    def _error(
        self,
        method: str,
        path: str,
        status: int,
        content_type: str,
        body: bytes,
        retry_after: float | None,
        location: str | None = None,
    ) -> VotelError:
        return error_from_response(
            status_code=status,
            content_type=content_type,
            body=body,
            method=method,
            path=path,
            retry_after=retry_after,
            base_url=self.settings.base_url,
            location=location,
        )

    def _log_retry(self, method: str, path: str, outcome: Outcome, retry: int, wait: float) -> None:
        cause = outcome.status_code or outcome.failure.value
        self.log.warning(
            "Votel %s %s failed (%s); retry %d/%d in %.2fs",
            method, path, cause, retry, self.settings.max_retries, wait,
        )  # fmt: skip

    def _outcome_unknown(
        self, method: str, path: str, cause: str, status: int | None
    ) -> VotelOutcomeUnknownError:
        return VotelOutcomeUnknownError(
            f"{method} {path} failed ambiguously ({cause}): it may have taken effect. It is not sent "
            f"again because connection {self.votel_conn_id!r} says the server ignores Idempotency-Key "
            "(server_idempotency=false); check the Votel app (messaging or call logs) before sending again.",
            status_code=status,
            method=method,
            path=path,
        )

    def _prepare(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        idempotency_key: str | None,
    ) -> _Prepared:
        """Shape a request: URL, query without None values, compact JSON body, headers."""
        body = None if json is None else json_dumps(json)
        keyed = bool(idempotency_key)
        trusted = self.settings.server_idempotency
        return _Prepared(
            method=method.upper(),
            path=path,
            url=self.url_for(path),
            query={k: v for k, v in (params or {}).items() if v is not None},
            body=body,
            headers=self._headers(headers, idempotency_key, body is not None),
            idempotent=keyed and trusted,
            unrepeatable=keyed and not trusted,
        )

    def _settle_response(
        self,
        method: str,
        path: str,
        response: _Response,
        retry: int,
        idempotent: bool,
        parse: Callable[[bytes], Any] = json.loads,
        unrepeatable: bool = False,
    ) -> tuple[bool, Any]:
        """``(True, json)`` for a success, ``(False, seconds)`` to retry; raises when giving up."""
        content_type = response.headers.get("Content-Type", "")
        if response.status_code < 300:
            body = response.content
            try:
                return True, self._decode(method, path, response.status_code, content_type, body, parse)
            except VotelServerError as exc:
                if not unrepeatable:
                    raise
                # Done, but without an id to show for it: as unknown as a lost answer.
                cause = f"{status_line(response.status_code)} with an unreadable body"
                raise self._outcome_unknown(method, path, cause, response.status_code) from exc
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        outcome = Outcome(Failure.STATUS, response.status_code, retry_after)
        wait = self.policy.next_wait(retry, method, outcome, idempotent=idempotent)
        if wait is None:
            if unrepeatable and response.status_code >= 500:
                raise self._outcome_unknown(
                    method, path, status_line(response.status_code), response.status_code
                )
            raise self._error(
                method, path, response.status_code, content_type, response.content, retry_after,
                response.headers.get("Location"),
            )  # fmt: skip
        self._log_retry(method, path, outcome, retry, wait)
        return False, wait

    def _settle_transport_error(
        self,
        method: str,
        path: str,
        exc: Exception,
        failure: Failure,
        retry: int,
        idempotent: bool,
        unrepeatable: bool = False,
    ) -> float:
        """Seconds to wait before retrying after no (usable) answer; raises when giving up."""
        outcome = Outcome(failure)
        wait = self.policy.next_wait(retry, method, outcome, idempotent=idempotent)
        if wait is None:
            if unrepeatable and failure is Failure.MAYBE_SENT:
                raise self._outcome_unknown(method, path, type(exc).__name__, None) from exc
            hint = ""
            if is_tls_failure(exc):
                # The usual cause is a Base URL typed without a scheme (https is then assumed) in
                # front of a plain-HTTP server, or the wrong scheme: name the URL the hook used.
                hint = (
                    f"; the TLS handshake with {self.settings.base_url} failed: check the scheme "
                    "(http:// or https://) of the connection's Base URL and the server's certificate"
                )
            raise VotelServerError(
                f"No answer on {method} {path} after {retry} attempt(s): {type(exc).__name__}{hint}",
                method=method,
                path=path,
            ) from exc
        self._log_retry(method, path, outcome, retry, wait)
        return wait


def json_dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), default=str).encode()
