"""VotelAsyncHook keeps the sync hook's policy: retries, waits, typed errors, POST rules, paging."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from votel_airflow import __version__, endpoints
from votel_airflow.exceptions import (
    VotelBadRequestError,
    VotelNotFoundError,
    VotelPaymentRequiredError,
    VotelRateLimitError,
    VotelServerError,
)
from votel_airflow.hooks.votel import VotelAsyncHook

from .conftest import KEY

pytestmark = pytest.mark.usefixtures("votel_conn")

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """An httpx transport answering from a script of responses (or exceptions), recording requests."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def _run(
    hook: VotelAsyncHook, recorder: Recorder, call: Callable[[VotelAsyncHook], Coroutine[Any, Any, Any]]
) -> Any:
    async def main() -> Any:
        await hook.aload_settings()
        hook._client = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
        async with hook:
            return await call(hook)

    return asyncio.run(main())


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=payload, headers=headers)


def test_retry_after_is_honoured(async_sleeps: list[float]) -> None:
    recorder = Recorder(_json(429, {"detail": "slow"}, {"Retry-After": "4"}), _json(200, [{"id": "a-1"}]))

    result = _run(VotelAsyncHook(), recorder, lambda h: h.get(endpoints.AGENTS))

    assert result == [{"id": "a-1"}]
    assert len(recorder.requests) == 2
    assert len(async_sleeps) == 1
    assert 4.0 <= async_sleeps[0] <= 4.25


def test_rate_limit_after_every_retry_raises_with_retry_after(async_sleeps: list[float]) -> None:
    recorder = Recorder(_json(429, {"detail": "slow"}, {"Retry-After": "1"}))

    with pytest.raises(VotelRateLimitError) as info:
        _run(VotelAsyncHook(max_retries=2), recorder, lambda h: h.get(endpoints.AGENTS))

    assert len(recorder.requests) == 3
    assert info.value.retry_after == 1.0


def test_server_errors_are_retried_then_raised(async_sleeps: list[float]) -> None:
    recorder = Recorder(_json(502, {"detail": "bad gateway"}))

    with pytest.raises(VotelServerError) as info:
        _run(VotelAsyncHook(max_retries=3), recorder, lambda h: h.get(endpoints.AGENTS))

    assert len(recorder.requests) == 4
    assert len(async_sleeps) == 3
    assert str(info.value) == "502 Bad Gateway on GET /agents: bad gateway"


@pytest.mark.parametrize(
    ("status", "cls"),
    [(402, VotelPaymentRequiredError), (404, VotelNotFoundError), (422, VotelBadRequestError)],
)
def test_client_errors_raise_at_once(async_sleeps: list[float], status: int, cls: type[Exception]) -> None:
    recorder = Recorder(_json(status, {"detail": "Lead not found"}))

    with pytest.raises(cls):
        _run(VotelAsyncHook(), recorder, lambda h: h.get("/contacts/c-1"))

    assert len(recorder.requests) == 1
    assert async_sleeps == []


def test_html_502_is_reported_without_its_body(async_sleeps: list[float]) -> None:
    page = b"<html>secret upstream details</html>"
    recorder = Recorder(httpx.Response(502, content=page, headers={"Content-Type": "text/html"}))

    with pytest.raises(VotelServerError) as info:
        _run(VotelAsyncHook(max_retries=0), recorder, lambda h: h.get(endpoints.AGENTS))

    assert (
        str(info.value) == f"502 Bad Gateway on GET /agents: non-JSON answer (text/html, {len(page)} bytes)"
    )


def test_post_without_idempotency_key_is_not_retried_on_500(async_sleeps: list[float]) -> None:
    recorder = Recorder(_json(500, {"detail": "boom"}), _json(201, {"id": "m-1"}))

    with pytest.raises(VotelServerError):
        _run(VotelAsyncHook(), recorder, lambda h: h.request("POST", endpoints.SMS, json={"to": "+1"}))

    assert len(recorder.requests) == 1


def test_post_without_idempotency_key_is_retried_on_429(async_sleeps: list[float]) -> None:
    recorder = Recorder(_json(429, {"detail": "slow"}, {"Retry-After": "0"}), _json(201, {"id": "m-1"}))

    result = _run(VotelAsyncHook(), recorder, lambda h: h.request("POST", endpoints.SMS, json={"to": "+1"}))

    assert result == {"id": "m-1"}
    assert len(recorder.requests) == 2


def test_post_with_idempotency_key_is_retried_and_sends_the_header(async_sleeps: list[float]) -> None:
    recorder = Recorder(_json(503, {"detail": "busy"}), httpx.ReadTimeout("slow"), _json(201, {"id": "m-1"}))

    _run(
        VotelAsyncHook(), recorder,
        lambda h: h.request("POST", endpoints.SMS, json={"to": "+1"}, idempotency_key="af-9"),
    )  # fmt: skip

    assert len(recorder.requests) == 3
    assert [r.headers.get("Idempotency-Key") for r in recorder.requests] == ["af-9"] * 3


def test_read_timeout_is_not_retried_for_post_without_key(async_sleeps: list[float]) -> None:
    recorder = Recorder(httpx.ReadTimeout("slow"), _json(201, {"id": "m-1"}))

    with pytest.raises(VotelServerError, match="ReadTimeout"):
        _run(VotelAsyncHook(), recorder, lambda h: h.request("POST", endpoints.SMS, json={"to": "+1"}))

    assert len(recorder.requests) == 1


def test_connect_error_is_retried_for_post_because_nothing_was_sent(async_sleeps: list[float]) -> None:
    recorder = Recorder(httpx.ConnectError("refused"), _json(201, {"id": "m-1"}))

    result = _run(VotelAsyncHook(), recorder, lambda h: h.request("POST", endpoints.SMS, json={"to": "+1"}))

    assert result == {"id": "m-1"}


def test_transport_errors_are_retried_for_get(async_sleeps: list[float]) -> None:
    recorder = Recorder(httpx.RemoteProtocolError("reset"), httpx.ReadTimeout("slow"), _json(200, []))

    assert _run(VotelAsyncHook(), recorder, lambda h: h.get(endpoints.AGENTS)) == []
    assert len(recorder.requests) == 3


def test_requests_carry_the_same_headers_as_the_sync_hook(async_sleeps: list[float]) -> None:
    recorder = Recorder(_json(201, {"id": "m-1"}))

    _run(VotelAsyncHook(), recorder, lambda h: h.request("POST", endpoints.SMS, json={"to": "+1"}))

    sent = recorder.requests[0]
    assert sent.headers["X-API-Key"] == KEY
    assert sent.headers["User-Agent"] == f"airflow-provider-votel/{__version__}"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.content) == {"to": "+1"}
    assert str(sent.url) == "https://votel.test/api/communication/sms"


def test_get_all_pages_walks_limit_offset_until_a_short_page(async_sleeps: list[float]) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        limit, offset = int(request.url.params["limit"]), int(request.url.params["offset"])
        return _json(200, [{"id": i} for i in range(offset, min(offset + limit, 7))])

    recorder = Recorder(page)

    records = _run(
        VotelAsyncHook(), recorder, lambda h: h.get_all_pages(endpoints.CONTACTS, {"tag": "vip"}, 3)
    )

    assert [r["id"] for r in records] == list(range(7))
    assert [dict(r.url.params) for r in recorder.requests] == [
        {"tag": "vip", "limit": "3", "offset": "0"},
        {"tag": "vip", "limit": "3", "offset": "3"},
        {"tag": "vip", "limit": "3", "offset": "6"},
    ]


def test_get_all_pages_refuses_a_non_list_answer(async_sleeps: list[float]) -> None:
    recorder = Recorder(_json(200, {"detail": "not a list"}))

    with pytest.raises(VotelServerError, match="expected a JSON array"):
        _run(VotelAsyncHook(), recorder, lambda h: h.get_all_pages(endpoints.CONTACTS))


def test_client_is_built_with_the_connection_timeouts() -> None:
    async def main() -> httpx.Timeout:
        hook = VotelAsyncHook(timeout=45)
        client = await hook.aclient()
        try:
            assert client is await hook.aclient()
            return client.timeout
        finally:
            await hook.aclose()

    timeout = asyncio.run(main())
    assert (timeout.connect, timeout.read) == (10.0, 45.0)


def test_a_slot_a_429_overtook_is_taken_again_by_the_async_hook(
    async_sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = VotelAsyncHook()
    recorder = Recorder(_json(200, []))
    delays: list[float] = []

    async def call(hook: VotelAsyncHook) -> Any:
        pacer = hook.pacer
        assert pacer is not None
        reserve = pacer.reserve

        def reserve_then_another_caller_meets_a_429(**kwargs: Any) -> float:
            delay = reserve(**kwargs)
            delays.append(delay)
            if len(delays) == 1:
                pacer.on_throttled(2.0)  # while this request waits for its slot
            return delay

        monkeypatch.setattr(pacer, "reserve", reserve_then_another_caller_meets_a_429)
        return await hook.get("/agents")

    _run(hook, recorder, call)

    assert len(recorder.requests) == 1
    assert len(delays) == 2
    assert delays[1] == pytest.approx(2.0, abs=0.5)
