"""VotelHook (requests) and VotelAsyncHook (httpx): one request policy for every call.

Both hooks share the connection settings, the headers, the retry policy (:mod:`.retry`) and the
error mapping (:func:`votel_airflow.exceptions.error_from_response`); each only adapts its HTTP
library. Nothing else in the package talks HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from votel_airflow import __version__, endpoints
from votel_airflow.compat import BaseHook
from votel_airflow.exceptions import (
    VotelError,
    VotelOutcomeUnknownError,
    VotelServerError,
    error_from_response,
    status_line,
)
from votel_airflow.hooks.connection import ConnectionSettings, settings_from_connection
from votel_airflow.hooks.network import secrets_of
from votel_airflow.hooks.pacing import AdaptivePacer, pacer_for
from votel_airflow.hooks.pages import RecordPage, split_records
from votel_airflow.hooks.retry import Failure, Outcome, RetryPolicy, parse_retry_after
from votel_airflow.limits import MAX_PAGE_SIZE, POOL_SIZE

if TYPE_CHECKING:
    # requests (with urllib3) costs 40-60 ms to import and every operator module imports this one
    # at DAG parse time: it is imported where a request is made, not here.
    import httpx
    import requests

    _Response = requests.Response | httpx.Response

USER_AGENT = f"airflow-provider-votel/{__version__}"
CONNECT_TIMEOUT = 10.0
# Enough pooled connections for the concurrent senders; more would only queue at the server.
#: Requests in flight at once through an event loop's shared async client. httpcore's pool does
#: work proportional to (requests in flight) x (connections) for every request: 16 keeps that
#: small while serving hundreds of polls a second, which a thousand triggers need.
ASYNC_POOL_SIZE = 16
MAX_REDIRECTS = 5
#: Requests in flight beyond the page being handed out, with ``read_ahead``: enough to hide a
#: round trip, and memory stays bounded at a few pages whatever the row count.
READ_AHEAD_PAGES = 1


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

    def _settings_from(self, conn: Any, *, mask: bool = True) -> ConnectionSettings:
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
        if mask:
            _mask(settings.api_key.reveal())
        # Rare, and not masked by the shared lookup: masked by every hook that has them.
        for secret in secrets_of(settings.proxy, settings.extra_headers):
            _mask(secret)
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

    @property
    def pacer(self) -> AdaptivePacer | None:
        """This process's pacer of the connection's account, or None with ``adaptive_pacing`` off."""
        settings = self.settings
        if not settings.adaptive_pacing:
            return None
        return pacer_for(settings.base_url, settings.api_key.reveal())

    @staticmethod
    def _pace_answer(pacer: AdaptivePacer | None, status: int, retry_after: str | None) -> None:
        """Tell the pacer how the API took a request: a 429 slows the process, anything else not."""
        if pacer is None:
            return
        if status == 429:
            pacer.on_throttled(parse_retry_after(retry_after))
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

    def _side_effect_policy(self, idempotency_key: str | None) -> tuple[bool, bool]:
        """``(idempotent, unrepeatable)`` of a request: whether a retry may repeat it, and whether
        an ambiguous failure must end in :class:`VotelOutcomeUnknownError` instead."""
        keyed = bool(idempotency_key)
        trusted = self.settings.server_idempotency
        return keyed and trusted, keyed and not trusted

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


def _mask(secret: str) -> None:
    from votel_airflow.compat import mask_secret

    mask_secret(secret)


def _transient_requests_errors() -> tuple[type[Exception], ...]:
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


def _requests_failure(exc: Exception) -> Failure:
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


class VotelHook(_VotelHookBase):
    """Call the Votel API with one policy: auth, timeouts, retries, typed errors, pagination.

    :param votel_conn_id: Airflow connection of type ``votel`` (API key in the password, base URL
        in the host; extras ``timeout`` and ``max_retries``).
    :param timeout: read timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retries: retries for retryable failures; overrides the ``max_retries`` extra.
    :param retry_after_max: longest ``Retry-After`` the hook agrees to wait, in seconds.
    """

    #: True once the API has answered 429 to this hook: paging stops reading ahead, since requests
    #: in parallel would only meet the rate limit twice and wait twice.
    throttled: bool = False

    @cached_property
    def session(self) -> requests.Session:
        """One pooled session per hook; urllib3's own retries are off, the policy decides."""
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=POOL_SIZE, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        settings = self.settings
        if settings.proxy:
            session.proxies = {"http": settings.proxy, "https": settings.proxy}
        return session

    def _verify(self) -> dict[str, Any]:
        """``verify=`` for each request when the connection names a CA bundle.

        Given per request: requests lets ``REQUESTS_CA_BUNDLE`` in the environment win over a
        session's own ``verify``.
        """
        return {"verify": self.settings.ca_bundle} if self.settings.ca_bundle else {}

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
        _parse: Callable[[bytes], Any] = json.loads,
        _abandoned: threading.Event | None = None,
    ) -> Any:
        """Send one API call under the policy and return its parsed JSON (None for an empty body).

        :param method: HTTP method.
        :param path: API path from :mod:`votel_airflow.endpoints`, filled.
        :param params: query parameters; None values are dropped.
        :param json: request body.
        :param headers: extra headers.
        :param idempotency_key: makes a POST/PATCH/DELETE safe to retry; sent as ``Idempotency-Key``.
        :param _parse: reads a success's body (internal: :meth:`iter_pages` keeps the record texts).
        :param _abandoned: once set, no retry is attempted and None is returned (internal: a page
            read ahead that turned out not to be needed).
        """
        import requests

        transient_errors = _transient_requests_errors()
        method = method.upper()
        url = self.url_for(path)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        body = None if json is None else _json_dumps(json)
        sent_headers = self._headers(headers, idempotency_key, body is not None)
        timeout = (min(CONNECT_TIMEOUT, self.settings.timeout), self.settings.timeout)
        idempotent, unrepeatable = self._side_effect_policy(idempotency_key)
        pacer = self.pacer
        retry = 0
        throttled = False
        while True:
            retry += 1
            delay = pacer.reserve(waited=throttled) if pacer is not None else 0.0
            throttled = False
            if delay > 0:
                # The process's share of the account's rate: every thread waits its slot.
                if _abandoned is None:
                    time.sleep(delay)
                elif _abandoned.wait(delay):
                    return None
            started = time.monotonic()
            try:
                # Redirects are not followed: requests would carry X-API-Key to another host and
                # turn a POST into a GET. The error names the new address for the Base URL instead.
                response = self.session.request(
                    method, url, params=query, data=body, headers=sent_headers, timeout=timeout,
                    allow_redirects=False, **self._verify(),
                )  # fmt: skip
            except transient_errors as exc:
                failure = _requests_failure(exc)
                wait = self._settle_transport_error(
                    method, path, exc, failure, retry, idempotent, unrepeatable
                )
            except requests.RequestException as exc:
                raise VotelError(
                    f"{method} {path} could not be sent: {type(exc).__name__}", method=method, path=path
                ) from None
            else:
                elapsed_ms = (time.monotonic() - started) * 1000
                self.log.debug("Votel %s %s -> %s in %.0f ms", method, path, response.status_code, elapsed_ms)
                self._pace_answer(pacer, response.status_code, response.headers.get("Retry-After"))
                throttled = response.status_code == 429
                done, value = self._settle_response(
                    method, path, response, retry, idempotent, _parse, unrepeatable
                )
                if done:
                    return value
                wait = value
                self.throttled = self.throttled or response.status_code == 429
            if _abandoned is None:
                time.sleep(wait)
            elif _abandoned.wait(wait):
                return None

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """``GET`` a path and return its JSON."""
        return self.request("GET", path, params=params)

    def iter_pages(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        read_ahead: bool = False,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the pages of a list endpoint (limit/offset); a short page is the last.

        :param path: a list endpoint from :mod:`votel_airflow.endpoints`.
        :param params: filters; ``limit``/``offset`` are managed here.
        :param page_size: records per request, 1 to 500.
        :param read_ahead: keep the next :data:`READ_AHEAD_PAGES` requests in flight while the
            caller handles a page, so network latency and the server's work overlap the caller's
            (for reading a whole window: the requests past a short last page are made for nothing).
        """
        # No _parse argument here: a subclass or a test double of request() keeps working.
        yield from self._pages(path, params, page_size, {}, read_ahead)

    def iter_raw_pages(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        read_ahead: bool = False,
    ) -> Iterator[RecordPage]:
        """:meth:`iter_pages` as :class:`~votel_airflow.hooks.pages.RecordPage` objects: each
        record's JSON text as the server sent it, parsed only if read (what extracts write).

        :param path: a list endpoint from :mod:`votel_airflow.endpoints`.
        :param params: filters; ``limit``/``offset`` are managed here.
        :param page_size: records per request, 1 to 500.
        :param read_ahead: see :meth:`iter_pages`.
        """
        yield from self._pages(path, params, page_size, {"_parse": split_records}, read_ahead)

    def _pages(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        page_size: int,
        parse: Mapping[str, Any],
        read_ahead: bool,
    ) -> Iterator[Any]:
        query = self._page_params(params, page_size)

        def fetch(offset: int, **kwargs: Any) -> Any:
            page_params = {**query, "limit": page_size, "offset": offset}
            return self.request("GET", path, params=page_params, **parse, **kwargs)

        pages = _fetch_ahead(self, fetch, page_size) if read_ahead else _fetch_in_turn(fetch, page_size)
        # Closed as soon as paging ends, so requests read ahead stop now, not at garbage collection.
        with contextlib.closing(pages):
            yield from _until_short_page(path, pages, page_size)

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
                target.geturl(),
                headers=headers,
                timeout=timeout,
                stream=True,
                allow_redirects=False,
                # The CA bundle is for the API; a download from object storage keeps the defaults.
                **(self._verify() if same_origin else {}),
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


def _until_short_page(path: str, pages: Iterator[Any], page_size: int) -> Iterator[Any]:
    """The non-empty pages up to the first short one, each checked to be a page."""
    for page in pages:
        if not isinstance(page, (list, RecordPage)):
            raise _not_a_list(path, page)
        count = len(page)
        if count > page_size:
            # The next offset is counted in whole pages: rows would repeat or go missing.
            raise VotelServerError(
                f"GET {path} answered {count} records for limit={page_size}", method="GET", path=path
            )
        if count:
            yield page
        # Drop our reference before the next page so only the pages in flight are alive.
        del page
        if count < page_size:
            return


def _fetch_in_turn(fetch: Callable[[int], Any], page_size: int) -> Generator[Any, None, None]:
    """Pages one request at a time; the consumer stops at the first short page."""
    offset = 0
    while True:
        yield fetch(offset)
        offset += page_size


def _fetch_ahead(hook: VotelHook, fetch: Callable[..., Any], page_size: int) -> Generator[Any, None, None]:
    """Pages with :data:`READ_AHEAD_PAGES` more requests in flight in worker threads (one request
    at a time, still ahead of the consumer, once the API has answered 429)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    abandoned = threading.Event()
    _ = hook.session  # built here, not raced for by the workers (urllib3's pool is thread-safe)
    with ThreadPoolExecutor(READ_AHEAD_PAGES + 1, thread_name_prefix="votel-read-ahead") as pool:
        pending: deque[Future[Any]] = deque()
        offset = 0
        try:
            while True:
                while len(pending) <= (0 if hook.throttled else READ_AHEAD_PAGES):
                    pending.append(pool.submit(fetch, offset, _abandoned=abandoned))
                    offset += page_size
                yield pending.popleft().result()
        finally:
            # Pages past the end (or past a failure) are not needed: no retry for them, and the
            # requests already sent are awaited (one round trip) before the pool is gone.
            abandoned.set()
            for future in pending:
                future.cancel()


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


#: How long a looked-up connection serves new async hooks: 1,000 triggers starting together make
#: one lookup, and a key rotated in the metadata database reaches new triggers within this time.
CONNECTION_TTL = 15.0


@dataclass(frozen=True)
class _ConnectionFields:
    """The parts of an Airflow connection the hook reads; the key is hidden from any repr."""

    host: str | None
    password: str | None = field(repr=False)
    extra: Any
    port: int | None
    schema: str | None


_connection_cache: dict[tuple[str, str | None], tuple[float, _ConnectionFields]] = {}
_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()
# Registry mutations are synchronous, but hooks on loops in other threads share the dicts.
_loops_lock = threading.Lock()


def _cache_key(conn_id: str) -> tuple[str, str | None]:
    # An AIRFLOW_CONN_ variable is the first place Airflow looks: part of the key, so a changed
    # variable (a test, a rotated key in the environment) is seen at once, not after the TTL.
    return conn_id, os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")


def clear_connection_cache() -> None:
    """Forget the connections async hooks looked up, so the next hook reads them afresh."""
    _connection_cache.clear()


_bundle_contexts: dict[str, ssl.SSLContext] = {}


def bundle_ssl_context(ca_bundle: str) -> ssl.SSLContext:
    """A client SSL context trusting the CA certificates of ``ca_bundle`` only, one per file."""
    with _ssl_lock:
        context = _bundle_contexts.get(ca_bundle)
        if context is None:
            context = _bundle_contexts[ca_bundle] = ssl.create_default_context(cafile=ca_bundle)
        return context


def shared_ssl_context() -> ssl.SSLContext:
    """The process's one client SSL context (httpx's defaults: certifi, ``SSL_CERT_FILE``...).

    Loading the CA bundle takes tens of milliseconds and about 1 MB; building it once instead of
    once per client is what lets a triggerer run a thousand hooks. Call it off the event loop the
    first time (:meth:`VotelAsyncHook.aclient` does).
    """
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            import httpx

            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


def _build_async_client(settings: ConnectionSettings) -> httpx.AsyncClient:
    from http.cookiejar import CookieJar, DefaultCookiePolicy

    import httpx

    return httpx.AsyncClient(
        # Hooks of other connections (other API keys) share the client: a cookie one tenant's
        # answer set must never ride along on another's request, so none is ever kept.
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        timeout=httpx.Timeout(settings.timeout, connect=min(CONNECT_TIMEOUT, settings.timeout)),
        # Every pooled connection kept alive: polls of a thousand triggers reuse them.
        limits=httpx.Limits(max_connections=ASYNC_POOL_SIZE, max_keepalive_connections=ASYNC_POOL_SIZE),
        verify=bundle_ssl_context(settings.ca_bundle) if settings.ca_bundle else shared_ssl_context(),
        proxy=settings.proxy,
    )


#: What tells the shared async clients apart: base URL, timeout, proxy and CA bundle.
_ClientKey = tuple[str, float, "str | None", "str | None"]


class _SharedClient:
    """One httpx client of an event loop, the number of hooks holding it, and its request slots."""

    def __init__(self, ready: asyncio.Task[httpx.AsyncClient]) -> None:
        self.ready = ready
        self.users = 0
        # httpcore matches every queued request against every connection each time one is sent
        # or released: with a thousand polls queued for the pool that quadratic work blocked the
        # loop for seconds. Requests beyond the pool wait here instead, in O(1).
        self.slots = asyncio.Semaphore(ASYNC_POOL_SIZE)


class _LoopState:
    """What the async hooks of one event loop share: clients and connection lookups in flight."""

    def __init__(self) -> None:
        self.clients: dict[_ClientKey, _SharedClient] = {}
        self.lookups: dict[tuple[str, str | None], asyncio.Task[_ConnectionFields]] = {}


# Weak: a loop that is closed and dropped takes its state with it.
_loop_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()


def _loop_state() -> _LoopState:
    loop = asyncio.get_running_loop()
    with _loops_lock:
        state = _loop_states.get(loop)
        if state is None:
            state = _loop_states[loop] = _LoopState()
        return state


def _client_key(settings: ConnectionSettings) -> _ClientKey:
    # The client carries the timeouts, the proxy, the trusted CAs and a pool per host; the key and
    # the headers go per request.
    return settings.base_url, settings.timeout, settings.proxy, settings.ca_bundle


async def _acquire_client(settings: ConnectionSettings) -> tuple[httpx.AsyncClient, _SharedClient]:
    """The loop's shared client for these settings, counted as used once more."""
    state = _loop_state()
    key = _client_key(settings)
    shared = state.clients.get(key)
    if shared is None:
        # Built in a thread: importing httpx and the first SSL context take tens of milliseconds
        # the event loop spends serving every other trigger meanwhile.
        ready = asyncio.ensure_future(asyncio.to_thread(_build_async_client, settings))
        shared = state.clients[key] = _SharedClient(ready)
    shared.users += 1
    try:
        # Shielded: one hook cancelled while the client is built must not cancel it for the rest.
        client = await asyncio.shield(shared.ready)
    except BaseException:
        await _release_client(key, shared)
        raise
    return client, shared


async def _release_client(key: _ClientKey, shared: _SharedClient) -> None:
    """Count one user less; the last one out closes the client (new hooks then build another)."""
    shared.users -= 1
    if shared.users > 0:
        return
    state = _loop_state()
    # Unregistered before any await, so no hook can pick up a client that is being closed.
    if state.clients.get(key) is shared:
        del state.clients[key]
    if not shared.ready.done():
        shared.ready.cancel()
        return
    if not shared.ready.cancelled() and shared.ready.exception() is None:
        await shared.ready.result().aclose()


async def _lookup_connection(conn_id: str) -> _ConnectionFields:
    aget = getattr(BaseHook, "aget_connection", None)
    if aget is None:  # Airflow 3.0: lookups (and masking) are sync messages to the supervisor
        # sync_to_async, not to_thread: the triggerer's comms then answer on its own loop, in order.
        from asgiref.sync import sync_to_async

        fields: _ConnectionFields = await sync_to_async(_read_connection)(conn_id)
        return fields
    return _masked_fields(await aget(conn_id))


def _read_connection(conn_id: str) -> _ConnectionFields:
    return _masked_fields(BaseHook.get_connection(conn_id))


def _masked_fields(conn: Any) -> _ConnectionFields:
    fields = _ConnectionFields(conn.host, conn.password, conn.extra, conn.port, conn.schema)
    if fields.password:
        # Masked once per lookup (not per hook): every later hook reuses the same text.
        _mask(fields.password)
    return fields


async def _connection_fields(conn_id: str) -> _ConnectionFields:
    """The connection, from the short-lived cache or one lookup shared by the loop's hooks."""
    key = _cache_key(conn_id)
    cached = _connection_cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    state = _loop_state()
    lookup = state.lookups.get(key)
    if lookup is None:
        lookup = state.lookups[key] = asyncio.ensure_future(_lookup_connection(conn_id))
        lookup.add_done_callback(lambda done: _forget_lookup(state, key, done))
    fields = await asyncio.shield(lookup)
    now = time.monotonic()
    for stale in [k for k, (expires, _) in _connection_cache.items() if expires <= now]:
        _connection_cache.pop(stale, None)
    _connection_cache[key] = (now + CONNECTION_TTL, fields)
    return fields


def _forget_lookup(
    state: _LoopState, key: tuple[str, str | None], done: asyncio.Task[_ConnectionFields]
) -> None:
    if state.lookups.get(key) is done:
        del state.lookups[key]
    if not done.cancelled():
        # Read, so a failure every waiter already saw is not reported again as "never retrieved".
        done.exception()


class VotelAsyncHook(_VotelHookBase):
    """The async twin of :class:`VotelHook` (httpx), for triggers; same policy, same errors.

    The hooks of one event loop share one httpx client per base URL and timeout (one SSL context,
    one connection pool, keep-alive between polls) and one look-up of each connection: a
    triggerer runs a thousand of them in one loop. :meth:`aclose` gives the hook's share back;
    the last hook out closes the client.

    :param votel_conn_id: Airflow connection of type ``votel``.
    :param timeout: read timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retries: retries for retryable failures; overrides the ``max_retries`` extra.
    :param retry_after_max: longest ``Retry-After`` the hook agrees to wait, in seconds.
    """

    #: The client in use: the loop's shared one (with ``_share``) or one set on this hook alone.
    _client: httpx.AsyncClient | None = None
    _share: tuple[_ClientKey, _SharedClient] | None = None

    async def aload_settings(self) -> ConnectionSettings:
        """Load the connection without blocking the event loop (cached for a few seconds)."""
        if self._settings is None:
            conn = await _connection_fields(self.votel_conn_id)
            # The shared lookup has masked the key once already; a thousand triggers need not.
            self._settings = self._settings_from(conn, mask=False)
        return self._settings

    async def aclient(self) -> httpx.AsyncClient:
        """The httpx client this hook uses: the loop's shared one, taken on first use."""
        if self._client is None:
            settings = await self.aload_settings()
            client, shared = await _acquire_client(settings)
            self._client, self._share = client, (_client_key(settings), shared)
        return self._client

    async def aclose(self) -> None:
        """Give the client back; triggers call this when they finish or are cancelled.

        A shared client stays open for the other hooks of the loop; a client set on this hook
        alone is closed.
        """
        client, share = self._client, self._share
        self._client = self._share = None
        if share is not None:
            await _release_client(*share)
        elif client is not None:
            await client.aclose()

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
        # The client first: building it imports httpx in a thread, off the event loop.
        client = await self.aclient()
        import httpx

        slots = self._share[1].slots if self._share is not None else contextlib.nullcontext()
        method = method.upper()
        url = self.url_for(path)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        body = None if json is None else _json_dumps(json)
        sent_headers = self._headers(headers, idempotency_key, body is not None)
        idempotent, unrepeatable = self._side_effect_policy(idempotency_key)
        pacer = self.pacer
        retry = 0
        throttled = False
        while True:
            retry += 1
            delay = pacer.reserve(waited=throttled) if pacer is not None else 0.0
            throttled = False
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                async with slots:
                    response = await client.request(
                        method, url, params=query, content=body, headers=sent_headers
                    )
            except httpx.TransportError as exc:
                failure = _httpx_failure(exc)
                wait = self._settle_transport_error(
                    method, path, exc, failure, retry, idempotent, unrepeatable
                )
            else:
                self._pace_answer(pacer, response.status_code, response.headers.get("Retry-After"))
                throttled = response.status_code == 429
                done, value = self._settle_response(
                    method, path, response, retry, idempotent, unrepeatable=unrepeatable
                )
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
