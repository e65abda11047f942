"""The sync hook's retry policy, one rule per test: what is retried, how often, and how long it waits."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import requests

from votel_airflow import endpoints
from votel_airflow.exceptions import (
    VotelError,
    VotelPaymentRequiredError,
    VotelRateLimitError,
    VotelServerError,
)
from votel_airflow.hooks.retry import RetryPolicy, parse_retry_after
from votel_airflow.hooks.votel import VotelHook

from .conftest import API

pytestmark = pytest.mark.usefixtures("votel_conn")

AGENTS_URL = API + endpoints.AGENTS
SMS_URL = API + endpoints.SMS
OK = {"json": [{"id": "a-1"}], "status_code": 200}
SENT = {"json": {"id": "m-1", "status": "queued"}, "status_code": 201}


def test_retry_after_in_seconds_is_waited(requests_mock: Any, sleeps: list[float]) -> None:
    requests_mock.get(AGENTS_URL, [{"status_code": 429, "headers": {"Retry-After": "7"}}, OK])

    assert VotelHook().get(endpoints.AGENTS) == [{"id": "a-1"}]

    assert requests_mock.call_count == 2
    assert len(sleeps) == 1
    assert 7.0 <= sleeps[0] <= 7.25


def test_retry_after_as_http_date_is_waited(requests_mock: Any, sleeps: list[float]) -> None:
    # HTTP dates have whole seconds.
    when = (datetime.now(timezone.utc) + timedelta(seconds=20)).replace(microsecond=0)
    header = format_datetime(when, usegmt=True)
    requests_mock.get(AGENTS_URL, [{"status_code": 429, "headers": {"Retry-After": header}}, OK])
    before = time.time()

    VotelHook().get(endpoints.AGENTS)

    after = time.time()
    # The wait is the time left until the date when the answer came (plus at most 0.25 s of
    # jitter): bracketed by the clock around the call, however long a loaded machine took for it.
    assert len(sleeps) == 1
    assert when.timestamp() - after <= sleeps[0] <= when.timestamp() - before + 0.25


def test_retry_after_is_capped_by_retry_after_max(requests_mock: Any, sleeps: list[float]) -> None:
    requests_mock.get(AGENTS_URL, [{"status_code": 429, "headers": {"Retry-After": "3600"}}, OK])

    VotelHook(retry_after_max=5).get(endpoints.AGENTS)

    assert 5.0 <= sleeps[0] <= 5.25


def test_retry_after_dated_without_zone_is_read_as_utc() -> None:
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Sun, 01 Nov 2026 12:00:30 -0000", now=now) == pytest.approx(30.0)


@pytest.mark.parametrize(("header", "expected"), [(None, None), ("", None), ("soon", None), ("-5", 0.0)])
def test_retry_after_absent_or_unreadable_falls_back(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_server_errors_are_retried_then_raised_as_server_error(
    requests_mock: Any, sleeps: list[float]
) -> None:
    requests_mock.get(AGENTS_URL, status_code=503, json={"detail": "Service Unavailable"})

    with pytest.raises(VotelServerError) as info:
        VotelHook(max_retries=3).get(endpoints.AGENTS)

    assert requests_mock.call_count == 4
    assert info.value.status_code == 503
    assert len(sleeps) == 3


def test_backoff_grows_exponentially_with_jitter(requests_mock: Any, sleeps: list[float]) -> None:
    requests_mock.get(AGENTS_URL, status_code=500, json={"detail": "boom"})

    with pytest.raises(VotelServerError):
        VotelHook(max_retries=4).get(endpoints.AGENTS)

    # Equal jitter: retry n waits between half and all of 0.5 * 2**(n-1) seconds.
    for number, wait in enumerate(sleeps, start=1):
        ceiling = 0.5 * 2 ** (number - 1)
        assert ceiling / 2 <= wait <= ceiling


def test_backoff_is_capped_by_backoff_max() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=30.0)
    from votel_airflow.hooks.retry import Failure, Outcome

    assert policy.wait_seconds(20, Outcome(Failure.STATUS, 500)) <= 30.0


def test_rate_limit_after_every_retry_raises_with_retry_after(
    requests_mock: Any, sleeps: list[float]
) -> None:
    requests_mock.get(
        AGENTS_URL, status_code=429, headers={"Retry-After": "2"}, json={"detail": "Too many requests"}
    )

    with pytest.raises(VotelRateLimitError) as info:
        VotelHook(max_retries=2).get(endpoints.AGENTS)

    assert requests_mock.call_count == 3
    assert info.value.retry_after == 2.0
    assert info.value.status_code == 429


def test_max_retries_zero_makes_one_attempt(requests_mock: Any, sleeps: list[float]) -> None:
    requests_mock.get(AGENTS_URL, status_code=500, json={"detail": "boom"})

    with pytest.raises(VotelServerError):
        VotelHook(max_retries=0).get(endpoints.AGENTS)

    assert requests_mock.call_count == 1
    assert sleeps == []


def test_payment_required_raises_after_exactly_one_request(requests_mock: Any, sleeps: list[float]) -> None:
    requests_mock.post(SMS_URL, status_code=402, json={"detail": "Insufficient wallet balance"})

    with pytest.raises(VotelPaymentRequiredError):
        VotelHook().request("POST", endpoints.SMS, json={"to": "+14155552671"}, idempotency_key="k-1")

    assert requests_mock.call_count == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_never_retried(requests_mock: Any, sleeps: list[float], status: int) -> None:
    requests_mock.get(AGENTS_URL, status_code=status, json={"detail": "no"})

    with pytest.raises(VotelError):
        VotelHook().get(endpoints.AGENTS)

    assert requests_mock.call_count == 1
    assert sleeps == []


def test_post_without_idempotency_key_is_not_retried_on_500(requests_mock: Any, sleeps: list[float]) -> None:
    requests_mock.post(SMS_URL, status_code=500, json={"detail": "boom"})

    with pytest.raises(VotelServerError):
        VotelHook().request("POST", endpoints.SMS, json={"to": "+14155552671", "body": "hi"})

    assert requests_mock.call_count == 1
    assert sleeps == []


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_patch_and_delete_without_key_are_not_retried_on_502(
    requests_mock: Any, sleeps: list[float], method: str
) -> None:
    requests_mock.register_uri(method, API + "/contacts/c-1", status_code=502, json={"detail": "bad gateway"})

    with pytest.raises(VotelServerError):
        VotelHook().request(method, "/contacts/c-1")

    assert requests_mock.call_count == 1


def test_post_without_idempotency_key_is_retried_on_429(requests_mock: Any, sleeps: list[float]) -> None:
    requests_mock.post(SMS_URL, [{"status_code": 429, "headers": {"Retry-After": "1"}}, SENT])

    result = VotelHook().request("POST", endpoints.SMS, json={"to": "+14155552671", "body": "hi"})

    assert result == {"id": "m-1", "status": "queued"}
    assert requests_mock.call_count == 2


def test_post_with_idempotency_key_is_retried_and_sends_the_key_every_time(
    requests_mock: Any, sleeps: list[float]
) -> None:
    requests_mock.post(
        SMS_URL, [{"status_code": 500, "json": {"detail": "boom"}}, {"status_code": 503}, SENT]
    )

    VotelHook().request("POST", endpoints.SMS, json={"to": "+14155552671"}, idempotency_key="af-123")

    assert requests_mock.call_count == 3
    assert [r.headers.get("Idempotency-Key") for r in requests_mock.request_history] == ["af-123"] * 3
    assert all(r.json() == {"to": "+14155552671"} for r in requests_mock.request_history)


def test_request_without_idempotency_key_sends_no_such_header(requests_mock: Any) -> None:
    requests_mock.post(SMS_URL, **SENT)

    VotelHook().request("POST", endpoints.SMS, json={"to": "+14155552671"})

    assert "Idempotency-Key" not in requests_mock.last_request.headers


@pytest.mark.parametrize("error", [requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout])
def test_connection_errors_and_read_timeouts_are_retried_for_get(
    requests_mock: Any, sleeps: list[float], error: type[Exception]
) -> None:
    requests_mock.get(AGENTS_URL, [{"exc": error}, {"exc": error}, OK])

    assert VotelHook().get(endpoints.AGENTS) == [{"id": "a-1"}]
    assert requests_mock.call_count == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("error", [requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout])
def test_connection_errors_and_read_timeouts_are_not_retried_for_post_without_key(
    requests_mock: Any, sleeps: list[float], error: type[Exception]
) -> None:
    requests_mock.post(SMS_URL, [{"exc": error}, SENT])

    with pytest.raises(VotelServerError, match=error.__name__):
        VotelHook().request("POST", endpoints.SMS, json={"to": "+14155552671"})

    assert requests_mock.call_count == 1


def test_connect_timeout_is_retried_for_post_because_nothing_was_sent(
    requests_mock: Any, sleeps: list[float]
) -> None:
    requests_mock.post(SMS_URL, [{"exc": requests.exceptions.ConnectTimeout}, SENT])

    assert VotelHook().request("POST", endpoints.SMS, json={"to": "+14155552671"})["id"] == "m-1"
    assert requests_mock.call_count == 2


def test_refused_connection_is_retried_for_post_because_nothing_was_sent(
    set_connection: Any, sleeps: list[float]
) -> None:
    # A real refused connect (a port nobody listens on) exercises urllib3's NewConnectionError path.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    set_connection(host=f"http://127.0.0.1:{port}/api")

    with pytest.raises(VotelServerError, match="No answer on POST /communication/sms after 3 attempt"):
        VotelHook(max_retries=2).request("POST", endpoints.SMS, json={"to": "+14155552671"})

    assert len(sleeps) == 2


def test_transport_errors_after_every_retry_raise_server_error(
    requests_mock: Any, sleeps: list[float]
) -> None:
    requests_mock.get(AGENTS_URL, exc=requests.exceptions.ConnectionError)

    with pytest.raises(VotelServerError) as info:
        VotelHook(max_retries=2).get(endpoints.AGENTS)

    assert requests_mock.call_count == 3
    assert info.value.status_code is None
    assert info.value.path == endpoints.AGENTS


def test_put_is_retried_without_key_because_it_sets_a_value(requests_mock: Any, sleeps: list[float]) -> None:
    url = API + endpoints.path(endpoints.CONTACT_STAGE, contact_id="c-1")
    requests_mock.put(url, [{"status_code": 503}, {"json": {"ok": True}}])

    VotelHook().request("PUT", "/contacts/c-1/stage", json={"pipeline_id": "p", "stage_id": "s"})

    assert requests_mock.call_count == 2


def test_redirect_is_not_followed_and_names_the_new_address(requests_mock: Any, sleeps: list[float]) -> None:
    requests_mock.get(AGENTS_URL, status_code=301, headers={"Location": "https://elsewhere.test/api/agents"})
    requests_mock.get("https://elsewhere.test/api/agents", json=[])

    with pytest.raises(VotelServerError, match=r"redirected to https://elsewhere\.test/api/agents"):
        VotelHook().get(endpoints.AGENTS)

    # The key never travelled to the other host.
    assert [r.hostname for r in requests_mock.request_history] == ["votel.test"]


def test_invalid_request_is_not_retried(requests_mock: Any, sleeps: list[float]) -> None:
    requests_mock.get(AGENTS_URL, exc=requests.exceptions.InvalidURL)

    with pytest.raises(VotelError, match="could not be sent: InvalidURL"):
        VotelHook().get(endpoints.AGENTS)

    assert requests_mock.call_count == 1
    assert sleeps == []


def test_retry_is_logged_with_cause_and_wait(requests_mock: Any, sleeps: list[float], capsys: Any) -> None:
    requests_mock.get(AGENTS_URL, [{"status_code": 503}, OK])

    VotelHook().get(endpoints.AGENTS)

    # Airflow's structlog writes task logs straight to the stream, not through stdlib handlers.
    assert "Votel GET /agents failed (503); retry 1/5 in" in capsys.readouterr().out


def test_dns_failure_counts_as_never_sent() -> None:
    import urllib3

    from votel_airflow.hooks.retry import Failure
    from votel_airflow.hooks.transport import requests_failure as _requests_failure

    reason = urllib3.exceptions.NameResolutionError("votel.test", None, socket.gaierror("no such host"))  # type: ignore[arg-type]
    wrapped = requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))  # type: ignore[arg-type]

    assert _requests_failure(wrapped) is Failure.NOT_SENT
    assert _requests_failure(requests.exceptions.ConnectionError("reset by peer")) is Failure.MAYBE_SENT
