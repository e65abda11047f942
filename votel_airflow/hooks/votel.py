"""VotelHook (requests) and VotelAsyncHook (httpx): one request policy for every call.

Both hooks share the connection settings, the headers, the retry policy (:mod:`.retry`) and the
error mapping (:func:`votel_airflow.exceptions.error_from_response`); each only adapts its HTTP
library. Nothing else in the package talks HTTP.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from airflow.sdk import BaseHook
from requests.adapters import HTTPAdapter

from votel_airflow import __version__, endpoints
from votel_airflow.exceptions import VotelError, VotelServerError, error_from_response, status_line
from votel_airflow.hooks.connection import ConnectionSettings, settings_from_connection
from votel_airflow.hooks.retry import Failure, Outcome, RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    import httpx

    _Response = requests.Response | httpx.Response

USER_AGENT = f"airflow-provider-votel/{__version__}"
MAX_PAGE_SIZE = 500
CONNECT_TIMEOUT = 10.0
# Enough pooled connections for the concurrent senders; more would only queue at the server.
POOL_SIZE = 32
MAX_REDIRECTS = 5


class _VotelHookBase(BaseHook):
    """Connection handling and request shaping shared by the sync and the async hook."""

    conn_name_attr = "votel_conn_id"
    default_conn_name = "votel_default"
    conn_type = "votel"
    hook_name = "Votel"

    def __init__(
        self,
        votel_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_after_max: float = 60.0,
    ) -> None:
        super().__init__()
        self.votel_conn_id = votel_conn_id
        self._timeout = timeout
        self._max_retries = max_retries
        self._retry_after_max = retry_after_max
        self._settings: ConnectionSettings | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(votel_conn_id={self.votel_conn_id!r})"

    def _settings_from(self, conn: Any) -> ConnectionSettings:
        settings = settings_from_connection(
            self.votel_conn_id,
            host=conn.host,
            password=conn.password,
            extra=conn.extra,
            timeout=self._timeout,
            max_retries=self._max_retries,
            port=conn.port,
            schema=conn.schema,
        )
        _mask(settings.api_key.reveal())
        return settings

    @property
    def policy(self) -> RetryPolicy:
        """The retry policy in force, from the connection and the hook's arguments."""
        return RetryPolicy(max_retries=self.settings.max_retries, retry_after_max=self._retry_after_max)

    @property
    def settings(self) -> ConnectionSettings:
        if self._settings is None:
            self._settings = self._settings_from(self.get_connection(self.votel_conn_id))
        return self._settings

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
            **(headers or {}),
            "X-API-Key": self.settings.api_key.reveal(),
        }
        if has_body:
            merged["Content-Type"] = "application/json"
        if idempotency_key:
            merged["Idempotency-Key"] = idempotency_key
        return merged

    def _decode(self, method: str, path: str, status: int, content_type: str, body: bytes) -> Any:
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
            return json.loads(body)
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

    def _settle_response(
        self, method: str, path: str, response: _Response, retry: int, idempotent: bool
    ) -> tuple[bool, Any]:
        """``(True, json)`` for a success, ``(False, seconds)`` to retry; raises when giving up."""
        content_type = response.headers.get("Content-Type", "")
        if response.status_code < 300:
            return True, self._decode(method, path, response.status_code, content_type, response.content)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        outcome = Outcome(Failure.STATUS, response.status_code, retry_after)
        wait = self.policy.next_wait(retry, method, outcome, idempotent=idempotent)
        if wait is None:
            raise self._error(
                method, path, response.status_code, content_type, response.content, retry_after,
                response.headers.get("Location"),
            )  # fmt: skip
        self._log_retry(method, path, outcome, retry, wait)
        return False, wait

    def _settle_transport_error(
        self, method: str, path: str, exc: Exception, failure: Failure, retry: int, idempotent: bool
    ) -> float:
        """Seconds to wait before retrying after no (usable) answer; raises when giving up."""
        outcome = Outcome(failure)
        wait = self.policy.next_wait(retry, method, outcome, idempotent=idempotent)
        if wait is None:
            hint = ""
            if _is_tls_failure(exc):
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

    @staticmethod
    def _page_params(params: Mapping[str, Any] | None, page_size: int) -> dict[str, Any]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size!r}")
        return {k: v for k, v in (params or {}).items() if v is not None}


def _is_tls_failure(exc: BaseException) -> bool:
    """Whether a transport error (requests or httpx) came from TLS, anywhere in what it wraps."""
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, (ssl.SSLError, requests.exceptions.SSLError)):
            return True
        seen.add(id(current))
        # requests wraps urllib3's MaxRetryError in args[0], which holds the cause in .reason.
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending += list(current.args[:1])
    return False


def _mask(secret: str) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


# Failures of the network or the peer; anything else requests raises (a bad URL, a bad header) is
# a mistake that would fail the same way on every retry.
_TRANSIENT_REQUESTS_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def _requests_failure(exc: requests.RequestException) -> Failure:
    # A refused or timed-out connect never reached the server; anything later might have.
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Failure.NOT_SENT
    reason = exc.args[0] if exc.args else None
    inner = getattr(reason, "reason", reason)
    # NameResolutionError (a DNS failure) is a NewConnectionError too: nothing was sent.
    if isinstance(inner, urllib3.exceptions.NewConnectionError):
        return Failure.NOT_SENT
    return Failure.MAYBE_SENT


class VotelHook(_VotelHookBase):
    """Call the Votel API with one policy: auth, timeouts, retries, typed errors, pagination.

    :param votel_conn_id: Airflow connection of type ``votel`` (API key in the password, base URL
        in the host; extras ``timeout`` and ``max_retries``).
    :param timeout: read timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retries: retries for retryable failures; overrides the ``max_retries`` extra.
    :param retry_after_max: longest ``Retry-After`` the hook agrees to wait, in seconds.
    """

    @cached_property
    def session(self) -> requests.Session:
        """One pooled session per hook; urllib3's own retries are off, the policy decides."""
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=POOL_SIZE, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def get_conn(self) -> requests.Session:
        return self.session

    def close(self) -> None:
        """Release pooled connections."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Send one API call under the policy and return its parsed JSON (None for an empty body).

        :param method: HTTP method.
        :param path: API path from :mod:`votel_airflow.endpoints`, filled.
        :param params: query parameters; None values are dropped.
        :param json: request body.
        :param headers: extra headers.
        :param idempotency_key: makes a POST/PATCH/DELETE safe to retry; sent as ``Idempotency-Key``.
        """
        method = method.upper()
        url = self.url_for(path)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        body = None if json is None else _json_dumps(json)
        sent_headers = self._headers(headers, idempotency_key, body is not None)
        timeout = (min(CONNECT_TIMEOUT, self.settings.timeout), self.settings.timeout)
        idempotent = bool(idempotency_key)
        retry = 0
        while True:
            retry += 1
            started = time.monotonic()
            try:
                # Redirects are not followed: requests would carry X-API-Key to another host and
                # turn a POST into a GET. The error names the new address for the Base URL instead.
                response = self.session.request(
                    method, url, params=query, data=body, headers=sent_headers, timeout=timeout,
                    allow_redirects=False,
                )  # fmt: skip
            except _TRANSIENT_REQUESTS_ERRORS as exc:
                failure = _requests_failure(exc)
                wait = self._settle_transport_error(method, path, exc, failure, retry, idempotent)
            except requests.RequestException as exc:
                raise VotelError(
                    f"{method} {path} could not be sent: {type(exc).__name__}", method=method, path=path
                ) from None
            else:
                elapsed_ms = (time.monotonic() - started) * 1000
                self.log.debug("Votel %s %s -> %s in %.0f ms", method, path, response.status_code, elapsed_ms)
                done, value = self._settle_response(method, path, response, retry, idempotent)
                if done:
                    return value
                wait = value
            time.sleep(wait)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """``GET`` a path and return its JSON."""
        return self.request("GET", path, params=params)

    def iter_pages(
        self, path: str, *, params: Mapping[str, Any] | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the pages of a list endpoint (limit/offset); a short page is the last."""
        query = self._page_params(params, page_size)
        offset = 0
        while True:
            page = self.request("GET", path, params={**query, "limit": page_size, "offset": offset})
            if not isinstance(page, list):
                raise _not_a_list(path, page)
            count = len(page)
            if count:
                yield page
            # Drop our reference before the next request so at most one page is ever alive.
            del page
            if count < page_size:
                return
            offset += count

    def paginate(
        self, path: str, *, params: Mapping[str, Any] | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of a list endpoint lazily, holding at most one page.

        :param path: a list endpoint from :mod:`votel_airflow.endpoints`.
        :param params: filters; ``limit``/``offset`` are managed here.
        :param page_size: records per request, 1 to 500.
        """
        for page in self.iter_pages(path, params=params, page_size=page_size):
            yield from page
            # Unbind the finished page before the loop asks for the next one.
            del page

    def stream_lines(self, url: str) -> Iterator[dict[str, Any]]:
        """Yield the JSON lines of a download (e.g. an export's ``download_url``).

        The API key is sent only to the API's own origin, never to a third party, including at the
        end of a redirect (a download URL often redirects to object storage).
        """
        api = urlsplit(self.settings.base_url)
        target = urlsplit(url if "://" in url else self.url_for(url))
        timeout = (min(CONNECT_TIMEOUT, self.settings.timeout), self.settings.timeout)
        for _ in range(MAX_REDIRECTS + 1):
            same_origin = (target.scheme, target.netloc) == (api.scheme, api.netloc)
            headers = self._headers(None, None, False) if same_origin else {"User-Agent": USER_AGENT}
            with self.session.get(
                target.geturl(), headers=headers, timeout=timeout, stream=True, allow_redirects=False
            ) as resp:
                location = resp.headers.get("Location")
                if resp.is_redirect and location:
                    target = urlsplit(urljoin(target.geturl(), location))
                    continue
                if resp.status_code >= 300:
                    raise self._error(
                        "GET", target.path, resp.status_code, resp.headers.get("Content-Type", ""),
                        resp.content, None,
                    )  # fmt: skip
                for line in resp.iter_lines():
                    if line.strip():
                        yield json.loads(line)
                return
        # Only the path is named: a pre-signed download URL carries its signature in the query.
        shown = urlsplit(url).path
        raise VotelServerError(f"GET {shown}: more than {MAX_REDIRECTS} redirects", method="GET", path=shown)

    def test_connection(self) -> tuple[bool, str]:
        """Read-only check: ``GET /agents``. Returns ``(ok, message)`` for the UI's Test button."""
        try:
            agents = self.request("GET", endpoints.AGENTS)
        except VotelError as exc:
            return False, render_error(exc)
        count = len(agents) if isinstance(agents, list) else 0
        return True, f"Connected: {count} agents"


def render_error(exc: VotelError) -> str:
    """The server's detail when there is one, else the whole message."""
    from votel_airflow.exceptions import render_detail

    return render_detail(exc.detail) if exc.detail is not None else str(exc)


def _not_a_list(path: str, page: Any) -> VotelServerError:
    return VotelServerError(
        f"GET {path} answered {type(page).__name__}, expected a JSON array (a list endpoint)",
        method="GET",
        path=path,
    )


def _json_dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), default=str).encode()


def _httpx_failure(exc: httpx.TransportError) -> Failure:
    import httpx

    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return Failure.NOT_SENT
    return Failure.MAYBE_SENT


def _build_async_client(settings: ConnectionSettings) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout, connect=min(CONNECT_TIMEOUT, settings.timeout)),
        limits=httpx.Limits(max_connections=POOL_SIZE),
    )


class VotelAsyncHook(_VotelHookBase):
    """The async twin of :class:`VotelHook` (httpx), for triggers; same policy, same errors.

    :param votel_conn_id: Airflow connection of type ``votel``.
    :param timeout: read timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retries: retries for retryable failures; overrides the ``max_retries`` extra.
    :param retry_after_max: longest ``Retry-After`` the hook agrees to wait, in seconds.
    """

    _client: httpx.AsyncClient | None = None

    async def aload_settings(self) -> ConnectionSettings:
        """Load the connection without blocking the event loop."""
        if self._settings is None:
            aget = getattr(BaseHook, "aget_connection", None)
            if aget is not None:
                conn = await aget(self.votel_conn_id)
            else:  # pragma: no cover - Airflow 3.0
                conn = await asyncio.to_thread(self.get_connection, self.votel_conn_id)
            self._settings = self._settings_from(conn)
        return self._settings

    async def aclient(self) -> httpx.AsyncClient:
        """One httpx client per hook, created on first use."""
        if self._client is None:
            settings = await self.aload_settings()
            # Importing httpx and loading the SSL context take tens of milliseconds: off the
            # triggerer's event loop, which serves every other trigger meanwhile.
            self._client = await asyncio.to_thread(_build_async_client, settings)
        return self._client

    async def aclose(self) -> None:
        """Close the client; triggers call this when they finish or are cancelled."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> VotelAsyncHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Async :meth:`VotelHook.request`: same arguments, same policy, same errors."""
        import httpx

        await self.aload_settings()
        client = await self.aclient()
        method = method.upper()
        url = self.url_for(path)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        body = None if json is None else _json_dumps(json)
        sent_headers = self._headers(headers, idempotency_key, body is not None)
        idempotent = bool(idempotency_key)
        retry = 0
        while True:
            retry += 1
            try:
                response = await client.request(method, url, params=query, content=body, headers=sent_headers)
            except httpx.TransportError as exc:
                failure = _httpx_failure(exc)
                wait = self._settle_transport_error(method, path, exc, failure, retry, idempotent)
            else:
                done, value = self._settle_response(method, path, response, retry, idempotent)
                if done:
                    return value
                wait = value
            await asyncio.sleep(wait)

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """``GET`` a path and return its JSON."""
        return await self.request("GET", path, params=params)

    async def get_all_pages(
        self, path: str, params: Mapping[str, Any] | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> list[dict[str, Any]]:
        """Every record of a list endpoint (for the small lists a trigger polls)."""
        query = self._page_params(params, page_size)
        records: list[dict[str, Any]] = []
        while True:
            page = await self.request(
                "GET", path, params={**query, "limit": page_size, "offset": len(records)}
            )
            if not isinstance(page, list):
                raise _not_a_list(path, page)
            records.extend(page)
            if len(page) < page_size:
                return records
