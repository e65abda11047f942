"""Page fetching for the sync hook: limit/offset pages, in turn or with requests read ahead.

A list endpoint answers pages of at most ``limit`` records; a shorter page is the last.
:func:`iter_pages` fetches them one request at a time, or with :data:`READ_AHEAD_PAGES` more
requests in flight in worker threads while the caller handles a page (what extracts use).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from votel_airflow.exceptions import VotelServerError
from votel_airflow.hooks.pages import RecordPage
from votel_airflow.limits import MAX_PAGE_SIZE

if TYPE_CHECKING:
    from votel_airflow.hooks.base import _Prepared

#: Requests in flight beyond the page being handed out, with ``read_ahead``: enough to hide a
#: round trip, and memory stays bounded at a few pages whatever the row count.
READ_AHEAD_PAGES = 1


class PagedHook(Protocol):
    """What paging needs of the sync hook (:class:`~votel_airflow.hooks.votel.VotelHook` has it).

    Typed here, not imported: the hook imports this module, and an import back would close a
    circle of imports.
    """

    throttled: bool

    @property
    def session(self) -> Any: ...

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None) -> Any: ...

    def _prepare(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        idempotency_key: str | None,
    ) -> _Prepared: ...

    def _send(
        self, call: _Prepared, parse: Callable[[bytes], Any] = ..., abandoned: threading.Event | None = None
    ) -> Any: ...


def page_params(params: Mapping[str, Any] | None, page_size: int) -> dict[str, Any]:
    """The filters of a paged request without None values; refuses a page size the API refuses."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size!r}")
    return {k: v for k, v in (params or {}).items() if v is not None}


def iter_pages(
    hook: PagedHook,
    path: str,
    params: Mapping[str, Any] | None,
    page_size: int,
    read_ahead: bool,
    parse: Callable[[bytes], Any] = json.loads,
) -> Iterator[Any]:
    """The non-empty pages of a list endpoint, each as ``parse`` reads a success's body."""
    query = page_params(params, page_size)

    def fetch(offset: int, abandoned: threading.Event | None = None) -> Any:
        page_query = {**query, "limit": page_size, "offset": offset}
        if parse is json.loads and abandoned is None:
            # Plain pages go through the public request(): a subclass or test double of it sees them.
            return hook.request("GET", path, params=page_query)
        return hook._send(hook._prepare("GET", path, page_query, None, None, None), parse, abandoned)

    pages = _fetch_ahead(hook, fetch, page_size) if read_ahead else _fetch_in_turn(fetch, page_size)
    # Closed as soon as paging ends, so requests read ahead stop now, not at garbage collection.
    with contextlib.closing(pages):
        yield from _until_short_page(path, pages, page_size)


def _until_short_page(path: str, pages: Iterator[Any], page_size: int) -> Iterator[Any]:
    """The non-empty pages up to the first short one, each checked to be a page."""
    for page in pages:
        if not isinstance(page, (list, RecordPage)):
            raise not_a_list(path, page)
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


def _fetch_ahead(hook: PagedHook, fetch: Callable[..., Any], page_size: int) -> Generator[Any, None, None]:
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
                    pending.append(pool.submit(fetch, offset, abandoned))
                    offset += page_size
                yield pending.popleft().result()
        finally:
            # Pages past the end (or past a failure) are not needed: no retry for them, and the
            # requests already sent are awaited (one round trip) before the pool is gone.
            abandoned.set()
            for future in pending:
                future.cancel()


def not_a_list(path: str, page: Any) -> VotelServerError:
    """The error for a list endpoint that answered something other than a JSON array."""
    return VotelServerError(
        f"GET {path} answered {type(page).__name__}, expected a JSON array (a list endpoint)",
        method="GET",
        path=path,
    )
