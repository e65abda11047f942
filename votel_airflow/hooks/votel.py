"""VotelHook (requests) and VotelAsyncHook (httpx): one request policy for every call.

Both hooks share the connection settings, the headers, the retry policy (:mod:`.retry`) and the
error mapping (:func:`votel_airflow.exceptions.error_from_response`); each only adapts its HTTP
library; what they share lives in :mod:`.base`, paging in :mod:`.paging`, the async clients shared
per event loop in :mod:`.async_clients`, the verbs (``send_sms``, ``start_call``...) in
:mod:`.verbs`. Nothing else in the package talks HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from votel_airflow import endpoints
from votel_airflow.exceptions import VotelError, VotelInterruptedError, VotelServerError, render_detail
from votel_airflow.hooks import async_clients, paging
from votel_airflow.hooks.async_clients import (
    ASYNC_POOL_SIZE,
    CONNECTION_TTL,
    bundle_ssl_context,
    clear_connection_cache,
    shared_ssl_context,
)
from votel_airflow.hooks.base import USER_AGENT, VotelHookBase, _Prepared
from votel_airflow.hooks.connection import CONNECT_TIMEOUT, ConnectionSettings
from votel_airflow.hooks.pacing import start_waits
from votel_airflow.hooks.pages import RecordPage, split_records
from votel_airflow.hooks.paging import READ_AHEAD_PAGES
from votel_airflow.hooks.transport import (
    httpx_failure,
    requests_failure,
    transient_requests_errors,
)
from votel_airflow.hooks.verbs import VotelVerbs
from votel_airflow.limits import MAX_PAGE_SIZE, POOL_SIZE

if TYPE_CHECKING:
    # requests (with urllib3) costs 40-60 ms to import: it is imported where a request is made.
    import httpx
    import requests

#: Names kept importable from here: they moved to the base, paging, transport and async client
#: modules.
__all__ = [
    "ASYNC_POOL_SIZE",
    "CONNECTION_TTL",
    "CONNECT_TIMEOUT",
    "READ_AHEAD_PAGES",
    "USER_AGENT",
    "VotelAsyncHook",
    "VotelHook",
    "bundle_ssl_context",
    "clear_connection_cache",
    "render_error",
    "shared_ssl_context",
]

MAX_REDIRECTS = 5
#: What the connection test adds to its success: the one call it makes proves the key, not the paths.
FULL_CHECK_HINT = "Run `votel-check-api` to check every path the provider uses against this API."
#: Seconds a wait of a page read ahead goes without looking at the hook's interrupt: it waits on
#: its own event (the page no longer wanted), so it looks at the other one this often.
INTERRUPT_POLL = 0.1


def _wait(interrupted: threading.Event, seconds: float) -> None:
    """Wait ``seconds``, or less once the hook is interrupted (the one place the sync hook waits)."""
    interrupted.wait(seconds)


class VotelHook(VotelVerbs, VotelHookBase):
    """Call the Votel API with one policy: auth, timeouts, retries, typed errors, pagination.

    :param votel_conn_id: Airflow connection of type ``votel`` (API key in the password, base URL
        in the host; extras ``timeout`` and ``max_retries``).
    :param timeout: read timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retries: retries for retryable failures; overrides the ``max_retries`` extra.
    :param retry_after_max: longest ``Retry-After`` the hook agrees to wait, in seconds; it also
        caps the pause a 429 it meets imposes on every caller of the account on this machine.
        Overrides the connection's ``retry_after_max`` extra (default 60).
    :param paced: False: the hook's requests neither wait for the account's pace nor teach it
        (the kill switch's stop, one request that must leave now).
    """

    #: True once the API has answered 429 to this hook: paging stops reading ahead, since requests
    #: in parallel would only meet the rate limit twice and wait twice.
    throttled: bool = False

    def __init__(
        self,
        votel_conn_id: str = VotelHookBase.default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_after_max: float | None = None,
        paced: bool = True,
    ) -> None:
        super().__init__(
            votel_conn_id,
            timeout=timeout,
            max_retries=max_retries,
            retry_after_max=retry_after_max,
            paced=paced,
        )
        self._interrupted = threading.Event()
        #: Set at once by interrupt(), before the event: no request leaves after it returns.
        self._stopping = False

    def interrupt(self) -> None:
        """End every wait of this hook's requests now, for good: a request waiting for the
        account's pace, a ``Retry-After`` or a retry's backoff raises
        :class:`~votel_airflow.exceptions.VotelInterruptedError` without being sent (again), and
        so does every later request. A request already on the wire finishes (its timeout bounds
        it). Operators call it from ``on_kill``: a killed task must not sit out another caller's
        minute-long ``Retry-After`` before it can end.
        """
        self._stopping = True
        # The event (what wakes the waits) is set from a thread of its own: on_kill runs in a
        # signal handler, which may have stopped this very thread inside the event's lock (in a
        # wait on it), and that lock is not reentrant.
        threading.Thread(target=self._interrupted.set, name="votel-interrupt", daemon=True).start()

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
    ) -> Any:
        """Send one API call under the policy and return its parsed JSON (None for an empty body).

        :param method: HTTP method.
        :param path: API path from :mod:`votel_airflow.endpoints`, filled.
        :param params: query parameters; None values are dropped.
        :param json: request body.
        :param headers: extra headers.
        :param idempotency_key: makes a POST/PATCH/DELETE safe to retry; sent as ``Idempotency-Key``.
        """
        return self._send(self._prepare(method, path, params, json, headers, idempotency_key))

    def _send(
        self,
        call: _Prepared,
        parse: Callable[[bytes], Any] = json.loads,
        abandoned: threading.Event | None = None,
    ) -> Any:
        """Send a prepared call under the policy (what :meth:`request` does), plus what paging
        needs: ``parse`` reads a success's body (raw pages keep the record texts); once
        ``abandoned`` is set, no retry is attempted and None is returned (a page read ahead that
        turned out not to be needed)."""
        import requests

        transient_errors = transient_requests_errors()
        method, path = call.method, call.path
        timeout = (min(CONNECT_TIMEOUT, self.settings.timeout), self.settings.timeout)
        pacer = self.pacer
        retry = 0
        throttled = False
        while True:
            retry += 1
            # The account's pace: every thread waits its slot, and takes a new one when a 429
            # came meanwhile (AdaptivePacer.episode).
            for delay in start_waits(pacer, waited=throttled):
                if self._pause(delay, abandoned, call):
                    return None
            throttled = False
            started = time.monotonic()
            try:
                # Redirects are not followed: requests would carry X-API-Key to another host and
                # turn a POST into a GET. The error names the new address for the Base URL instead.
                response = self.session.request(
                    method, call.url, params=call.query, data=call.body, headers=call.headers,
                    timeout=timeout, allow_redirects=False, **self._verify(),
                )  # fmt: skip
            except transient_errors as exc:
                failure = requests_failure(exc)
                wait = self._settle_transport_error(
                    method, path, exc, failure, retry, call.idempotent, call.unrepeatable
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
                    method, path, response, retry, call.idempotent, parse, call.unrepeatable
                )
                if done:
                    return value
                wait = value
                self.throttled = self.throttled or throttled
            if self._pause(wait, abandoned, call):
                return None

    def _pause(self, seconds: float, abandoned: threading.Event | None, call: _Prepared) -> bool:
        """Wait ``seconds`` before sending ``call``; True when ``abandoned`` was set meanwhile.

        :raises VotelInterruptedError: the hook is interrupted (:meth:`interrupt`), before or
            during the wait.
        """
        if seconds > 0:
            if abandoned is None:
                _wait(self._interrupted, seconds)
            else:
                deadline = time.monotonic() + seconds
                while not (abandoned.is_set() or self._stopping):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    abandoned.wait(min(left, INTERRUPT_POLL))
        if self._stopping:
            raise VotelInterruptedError(
                f"{call.method} {call.path} not sent: the hook was interrupted (the task is being "
                "stopped) while the request waited for the account's pace or a retry",
                method=call.method,
                path=call.path,
            )
        return abandoned is not None and abandoned.is_set()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """``GET`` a path and return its JSON."""
        return self.request("GET", path, params=params)

    def get_at_origin(self, path: str) -> Any:
        """``GET`` a path of the API's origin rather than of its base URL, under the same policy.

        For the documents a web framework serves at the root (FastAPI's ``/openapi.json``) while
        the API lives under ``/api``. The origin is the API's own, so the key goes with it.

        :param path: an absolute path on the origin, e.g. ``/openapi.json``.
        """
        call = self._prepare("GET", path, None, None, None, None)
        api = urlsplit(self.settings.base_url)
        return self._send(replace(call, url=f"{api.scheme}://{api.netloc}{path}"))

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
        :param read_ahead: keep the next :data:`~votel_airflow.hooks.paging.READ_AHEAD_PAGES`
            requests in flight while the caller handles a page, so network latency and the
            server's work overlap the caller's (for reading a whole window: the requests past a
            short last page are made for nothing).
        """
        yield from paging.iter_pages(self, path, params, page_size, read_ahead)

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
        yield from paging.iter_pages(self, path, params, page_size, read_ahead, parse=split_records)

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
        """Read-only check: ``GET /agents``. Returns ``(ok, message)`` for the UI's Test button.

        One cheap call, so the button answers at once; the message names ``votel-check-api``,
        which checks every path the provider uses.
        """
        try:
            agents = self.request("GET", endpoints.AGENTS)
        except VotelError as exc:
            return False, render_error(exc)
        count = len(agents) if isinstance(agents, list) else 0
        return True, f"Connected: {count} agents. {FULL_CHECK_HINT}"


def render_error(exc: VotelError) -> str:
    """The server's detail when there is one, else the whole message."""
    return render_detail(exc.detail) if exc.detail is not None else str(exc)


class VotelAsyncHook(VotelHookBase):
    """The async twin of :class:`VotelHook` (httpx), for triggers; same policy, same errors.

    The hooks of one event loop share one httpx client per base URL and timeout (one SSL context,
    one connection pool, keep-alive between polls) and one look-up of each connection: a
    triggerer runs a thousand of them in one loop. :meth:`aclose` gives the hook's share back;
    the last hook out closes the client.

    :param votel_conn_id: Airflow connection of type ``votel``.
    :param timeout: read timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retries: retries for retryable failures; overrides the ``max_retries`` extra.
    :param retry_after_max: longest ``Retry-After`` the hook agrees to wait, in seconds; it also
        caps the pause a 429 it meets imposes on every caller of the account on this machine.
        Overrides the connection's ``retry_after_max`` extra (default 60).
    :param paced: False: the hook's requests neither wait for the account's pace nor teach it.
    """

    #: The client in use: the loop's shared one (with ``_share``) or one set on this hook alone.
    _client: httpx.AsyncClient | None = None
    _share: tuple[async_clients.ClientKey, async_clients.SharedClient] | None = None

    async def aload_settings(self) -> ConnectionSettings:
        """Load the connection without blocking the event loop (cached for a few seconds)."""
        if self._settings is None:
            conn = await async_clients.connection_fields(self.votel_conn_id)
            # The shared lookup has masked the key once already; a thousand triggers need not.
            self._settings = self._settings_from(conn, mask_key=False)
        return self._settings

    async def aclient(self) -> httpx.AsyncClient:
        """The httpx client this hook uses: the loop's shared one, taken on first use."""
        if self._client is None:
            settings = await self.aload_settings()
            client, shared = await async_clients.acquire_client(settings)
            self._client, self._share = client, (async_clients.client_key(settings), shared)
        return self._client

    async def aclose(self) -> None:
        """Give the client back; triggers call this when they finish or are cancelled.

        A shared client stays open for the other hooks of the loop; a client set on this hook
        alone is closed.
        """
        client, share = self._client, self._share
        self._client = self._share = None
        if share is not None:
            await async_clients.release_client(*share)
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
        call = self._prepare(method, path, params, json, headers, idempotency_key)
        method = call.method
        pacer = self.pacer
        retry = 0
        throttled = False
        while True:
            retry += 1
            # As the sync hook: a slot taken before a 429 that came meanwhile is void.
            for delay in start_waits(pacer, waited=throttled):
                if delay > 0:
                    await asyncio.sleep(delay)
            throttled = False
            try:
                async with slots:
                    response = await client.request(
                        method, call.url, params=call.query, content=call.body, headers=call.headers
                    )
            except httpx.TransportError as exc:
                failure = httpx_failure(exc)
                wait = self._settle_transport_error(
                    method, path, exc, failure, retry, call.idempotent, call.unrepeatable
                )
            else:
                self._pace_answer(pacer, response.status_code, response.headers.get("Retry-After"))
                throttled = response.status_code == 429
                done, value = self._settle_response(
                    method, path, response, retry, call.idempotent, unrepeatable=call.unrepeatable
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
        query = paging.page_params(params, page_size)
        records: list[dict[str, Any]] = []
        while True:
            page = await self.request(
                "GET", path, params={**query, "limit": page_size, "offset": len(records)}
            )
            if not isinstance(page, list):
                raise paging.not_a_list(path, page)
            records.extend(page)
            if len(page) < page_size:
                return records
