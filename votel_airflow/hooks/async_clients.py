"""What the async hooks of one process share: httpx clients per event loop, SSL contexts and
connection look-ups.

A triggerer runs a thousand hooks in one event loop: one client per base URL, timeout, proxy and
CA bundle (one connection pool, keep-alive between polls), one SSL context per process and one
connection look-up per connection make that cheap. :class:`~votel_airflow.hooks.votel.VotelAsyncHook`
takes a share with :func:`acquire_client` and gives it back with :func:`release_client`.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from votel_airflow.compat import BaseHook
from votel_airflow.hooks.connection import CONNECT_TIMEOUT, ConnectionFields, ConnectionSettings
from votel_airflow.hooks.network import mask

if TYPE_CHECKING:
    import httpx

#: Requests in flight at once through an event loop's shared async client. httpcore's pool does
#: work proportional to (requests in flight) x (connections) for every request: 16 keeps that
#: small while serving hundreds of polls a second, which a thousand triggers need.
ASYNC_POOL_SIZE = 16
#: How long a looked-up connection serves new async hooks: 1,000 triggers starting together make
#: one lookup, and a key rotated in the metadata database reaches new triggers within this time.
CONNECTION_TTL = 15.0


_connection_cache: dict[tuple[str, str | None], tuple[float, ConnectionFields]] = {}
_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()
# Registry mutations are synchronous, but hooks on loops in other threads share the dicts.
_loops_lock = threading.Lock()
_bundle_contexts: dict[str, ssl.SSLContext] = {}


def _cache_key(conn_id: str) -> tuple[str, str | None]:
    # An AIRFLOW_CONN_ variable is the first place Airflow looks: part of the key, so a changed
    # variable (a test, a rotated key in the environment) is seen at once, not after the TTL.
    return conn_id, os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")


def clear_connection_cache() -> None:
    """Forget the connections async hooks looked up, so the next hook reads them afresh."""
    _connection_cache.clear()


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
    first time (:meth:`~votel_airflow.hooks.votel.VotelAsyncHook.aclient` does).
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
ClientKey = tuple[str, float, "str | None", "str | None"]


class SharedClient:
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
        self.clients: dict[ClientKey, SharedClient] = {}
        self.lookups: dict[tuple[str, str | None], asyncio.Task[ConnectionFields]] = {}


# Weak: a loop that is closed and dropped takes its state with it.
_loop_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()


def _loop_state() -> _LoopState:
    loop = asyncio.get_running_loop()
    with _loops_lock:
        state = _loop_states.get(loop)
        if state is None:
            state = _loop_states[loop] = _LoopState()
        return state


def client_key(settings: ConnectionSettings) -> ClientKey:
    """Which shared client serves these settings."""
    # The client carries the timeouts, the proxy, the trusted CAs and a pool per host; the key and
    # the headers go per request.
    return settings.base_url, settings.timeout, settings.proxy, settings.ca_bundle


async def acquire_client(settings: ConnectionSettings) -> tuple[httpx.AsyncClient, SharedClient]:
    """The loop's shared client for these settings, counted as used once more."""
    state = _loop_state()
    key = client_key(settings)
    shared = state.clients.get(key)
    if shared is None:
        # Built in a thread: importing httpx and the first SSL context take tens of milliseconds
        # the event loop spends serving every other trigger meanwhile.
        ready = asyncio.ensure_future(asyncio.to_thread(_build_async_client, settings))
        shared = state.clients[key] = SharedClient(ready)
    shared.users += 1
    try:
        # Shielded: one hook cancelled while the client is built must not cancel it for the rest.
        client = await asyncio.shield(shared.ready)
    except BaseException:
        await release_client(key, shared)
        raise
    return client, shared


async def release_client(key: ClientKey, shared: SharedClient) -> None:
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


async def _lookup_connection(conn_id: str) -> ConnectionFields:
    aget = getattr(BaseHook, "aget_connection", None)
    if aget is None:  # Airflow 3.0: lookups (and masking) are sync messages to the supervisor
        # sync_to_async, not to_thread: the triggerer's comms then answer on its own loop, in order.
        from asgiref.sync import sync_to_async

        fields: ConnectionFields = await sync_to_async(_read_connection)(conn_id)
        return fields
    return _masked_fields(await aget(conn_id))


def _read_connection(conn_id: str) -> ConnectionFields:
    return _masked_fields(BaseHook.get_connection(conn_id))


def _masked_fields(conn: Any) -> ConnectionFields:
    fields = ConnectionFields.of(conn)
    if fields.password:
        # Masked once per lookup (not per hook): every later hook reuses the same text.
        mask(fields.password)
    return fields


async def connection_fields(conn_id: str) -> ConnectionFields:
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
    state: _LoopState, key: tuple[str, str | None], done: asyncio.Task[ConnectionFields]
) -> None:
    if state.lookups.get(key) is done:
        del state.lookups[key]
    if not done.cancelled():
        # Read, so a failure every waiter already saw is not reported again as "never retrieved".
        done.exception()
