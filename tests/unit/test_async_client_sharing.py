"""Async hooks on one event loop share one httpx client, one SSL context and one connection lookup."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from votel_airflow import endpoints
from votel_airflow.compat import BaseHook
from votel_airflow.hooks import async_clients
from votel_airflow.hooks.votel import VotelAsyncHook, clear_connection_cache, shared_ssl_context

from .conftest import AGENTS, SetConnection


@pytest.fixture(autouse=True)
def _fresh_connection_cache() -> Iterator[None]:
    clear_connection_cache()
    yield
    clear_connection_cache()


@pytest.fixture
def local_conn(set_connection: SetConnection, local_api: str) -> str:
    set_connection(host=local_api)
    return local_api


@pytest.fixture
def lookups(mocker: Any) -> list[str]:
    """The conn ids the async hooks look up, in order (each lookup still reads the real connection)."""
    seen: list[str] = []
    if not hasattr(BaseHook, "aget_connection"):  # Airflow 3.0: the hook looks up synchronously
        real_sync = BaseHook.get_connection

        def _counting_sync(conn_id: str) -> Any:
            seen.append(conn_id)
            return real_sync(conn_id)

        mocker.patch.object(BaseHook, "get_connection", side_effect=_counting_sync)
        return seen
    real = BaseHook.aget_connection

    async def _counting(conn_id: str) -> Any:
        seen.append(conn_id)
        return await real(conn_id)

    mocker.patch.object(BaseHook, "aget_connection", side_effect=_counting)
    return seen


def test_two_hooks_on_one_loop_share_one_client(local_conn: str) -> None:
    async def main() -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        async with VotelAsyncHook() as first, VotelAsyncHook() as second:
            return await first.aclient(), await second.aclient()

    one, two = asyncio.run(main())
    assert one is two


def test_closing_one_hook_leaves_the_shared_client_working_for_the_other(local_conn: str) -> None:
    async def main() -> tuple[bool, Any]:
        first, second = VotelAsyncHook(), VotelAsyncHook()
        await first.get(endpoints.AGENTS)
        client = await second.aclient()
        await first.aclose()
        still_open = not client.is_closed
        try:
            return still_open, await second.get(endpoints.AGENTS)
        finally:
            await second.aclose()

    still_open, agents = asyncio.run(main())
    assert still_open
    assert agents == AGENTS


def test_the_last_hook_out_closes_the_client_and_a_new_hook_gets_a_fresh_one(local_conn: str) -> None:
    async def main() -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        async with VotelAsyncHook() as first:
            old = await first.aclient()
        async with VotelAsyncHook() as second:
            new = await second.aclient()
            assert not new.is_closed
        return old, new

    old, new = asyncio.run(main())
    assert old.is_closed
    assert new is not old
    assert new.is_closed


def test_a_hook_closed_twice_gives_its_share_back_once(local_conn: str) -> None:
    async def main() -> bool:
        first, second = VotelAsyncHook(), VotelAsyncHook()
        await first.aclient()
        client = await second.aclient()
        await first.aclose()
        await first.aclose()
        closed_while_second_holds_it = client.is_closed
        await second.aclose()
        return closed_while_second_holds_it

    assert asyncio.run(main()) is False


def test_a_hook_reused_after_aclose_takes_a_client_again(local_conn: str) -> None:
    async def main() -> Any:
        hook = VotelAsyncHook()
        await hook.get(endpoints.AGENTS)
        await hook.aclose()
        try:
            return await hook.get(endpoints.AGENTS)
        finally:
            await hook.aclose()

    assert asyncio.run(main()) == AGENTS


def test_hooks_with_different_timeouts_get_different_clients(local_conn: str) -> None:
    async def main() -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        async with VotelAsyncHook(timeout=5) as short, VotelAsyncHook(timeout=50) as long:
            return await short.aclient(), await long.aclient()

    short, long = asyncio.run(main())
    assert short is not long
    assert (short.timeout.read, long.timeout.read) == (5.0, 50.0)


def test_a_different_event_loop_gets_its_own_client(local_conn: str) -> None:
    clients: dict[str, httpx.AsyncClient] = {}
    both_open = threading.Barrier(2, timeout=10)

    def in_own_loop(name: str) -> None:
        async def main() -> None:
            async with VotelAsyncHook() as hook:
                clients[name] = await hook.aclient()
                await asyncio.to_thread(both_open.wait)
                assert await hook.get(endpoints.AGENTS) == AGENTS

        asyncio.run(main())

    threads = [threading.Thread(target=in_own_loop, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert set(clients) == {"a", "b"}
    assert clients["a"] is not clients["b"]


def test_many_hooks_starting_together_look_the_connection_up_once(
    local_conn: str, lookups: list[str]
) -> None:
    async def main() -> list[Any]:
        hooks = [VotelAsyncHook() for _ in range(50)]
        try:
            return await asyncio.gather(*(hook.get(endpoints.AGENTS) for hook in hooks))
        finally:
            await asyncio.gather(*(hook.aclose() for hook in hooks))

    answers = asyncio.run(main())
    assert answers == [AGENTS] * 50
    assert lookups == ["votel_default"]


def test_a_changed_connection_variable_is_read_at_once_despite_the_cache(
    set_connection: SetConnection, local_api: str, lookups: list[str]
) -> None:
    async def base_url() -> str:
        async with VotelAsyncHook() as hook:
            return (await hook.aload_settings()).base_url

    set_connection(host=local_api)
    first = asyncio.run(base_url())
    again = asyncio.run(base_url())
    set_connection(host="https://eu.votel.example/api")
    changed = asyncio.run(base_url())

    assert (first, again, changed) == (local_api, local_api, "https://eu.votel.example/api")
    assert len(lookups) == 2


def test_a_cached_connection_expires_after_its_ttl(
    local_conn: str, lookups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def load() -> None:
        await VotelAsyncHook().aload_settings()

    asyncio.run(load())
    asyncio.run(load())
    monkeypatch.setattr(async_clients, "CONNECTION_TTL", -1.0)
    clear_connection_cache()
    asyncio.run(load())
    asyncio.run(load())

    assert len(lookups) == 3


def test_hook_arguments_still_apply_to_a_cached_connection(local_conn: str) -> None:
    async def timeouts() -> tuple[float, float]:
        first = await VotelAsyncHook(timeout=7).aload_settings()
        second = await VotelAsyncHook().aload_settings()
        return first.timeout, second.timeout

    assert asyncio.run(timeouts()) == (7.0, 30.0)


def test_a_failed_lookup_is_not_cached(set_connection: SetConnection, local_api: str) -> None:
    async def load() -> str:
        return (await VotelAsyncHook("votel_later").aload_settings()).base_url

    with pytest.raises(Exception, match="votel_later"):
        asyncio.run(load())
    set_connection(host=local_api, conn_id="votel_later")
    assert asyncio.run(load()) == local_api


def test_every_client_uses_the_one_ssl_context_of_the_process(local_conn: str, mocker: Any) -> None:
    context = shared_ssl_context()
    built = mocker.spy(httpx, "create_ssl_context")

    async def main() -> list[Any]:
        async with VotelAsyncHook(timeout=5) as short, VotelAsyncHook(timeout=50) as long:
            clients = [await short.aclient(), await long.aclient()]
            # httpx keeps the context in the transport's connection pool (no public accessor).
            return [client._transport._pool._ssl_context for client in clients]  # type: ignore[attr-defined]

    contexts = asyncio.run(main()) + asyncio.run(main())
    assert all(used is context for used in contexts)
    assert built.call_count == 0
    assert shared_ssl_context() is context


def test_the_cached_connection_never_shows_the_key(local_conn: str) -> None:
    from .conftest import KEY

    async def load() -> None:
        await VotelAsyncHook().aload_settings()

    asyncio.run(load())
    shown = repr(list(async_clients._connection_cache.values()))
    assert "votel_default" in repr(list(async_clients._connection_cache))
    assert KEY not in shown


def test_the_shared_client_keeps_no_cookie_for_the_next_hook(local_conn: str) -> None:
    async def main() -> int:
        async with VotelAsyncHook() as hook:
            client = await hook.aclient()
            answer = httpx.Response(
                200,
                headers={"Set-Cookie": "session=tenant-a; Path=/"},
                request=httpx.Request("GET", local_conn),
            )
            client.cookies.extract_cookies(answer)
            return len(client.cookies.jar)

    assert asyncio.run(main()) == 0
