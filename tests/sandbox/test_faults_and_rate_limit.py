"""Injected faults and the rate limit: what a client sees, and that state stays sound."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import requests

from tests.sandbox.conftest import Api
from votel_airflow.hooks.votel import VotelHook

SMS = {"to": "+14155550123", "body": "hi"}


def test_html_502_is_an_html_page(sandbox, api: Api):
    sandbox.admin.set_faults(html_502_rate=1.0)
    response = api.get("/agents")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text


def test_html_502_happens_before_handling(sandbox, api: Api):
    sandbox.admin.set_faults(html_502_rate=1.0)
    assert api.post("/communication/sms", json=SMS).status_code == 502
    sandbox.admin.clear_faults()
    assert sandbox.admin.records(api.session.headers["X-API-Key"], "sms") == []


def test_dropped_connection_is_a_client_error_for_requests(sandbox, api: Api):
    sandbox.admin.set_faults(drop_rate=1.0)
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        api.get("/agents")


def test_dropped_connection_is_a_transport_error_for_httpx(sandbox, api: Api):
    sandbox.admin.set_faults(drop_rate=1.0)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{api.base_url}/agents", headers=dict(api.session.headers), timeout=10)


def test_error_after_handling_did_the_action_once(sandbox, api: Api):
    key = api.session.headers["X-API-Key"]
    sandbox.admin.reset_stats()  # the session's sandbox: count only this test's faults
    sandbox.admin.set_faults(error_rate=1.0, fault_seed=0)
    results = []
    for i in range(12):
        response = api.post("/communication/sms", json=SMS, headers={"Idempotency-Key": f"k{i}"})
        results.append(response.status_code)
        assert response.json()["detail"].startswith("Internal server error")
    assert set(results) == {500}
    stats = sandbox.admin.stats()["faults"]
    sandbox.admin.clear_faults()
    after = stats.get("error_after", 0)
    assert 0 < after < 12
    records = sandbox.admin.records(key, "sms")
    assert len(records) == after
    # A retry with the same key replays the stored success instead of sending again.
    replays = [
        api.post("/communication/sms", json=SMS, headers={"Idempotency-Key": f"k{i}"}).status_code
        for i in range(12)
    ]
    assert replays == [201] * 12
    assert len(sandbox.admin.records(key, "sms")) == 12


def test_dropped_response_after_handling_is_safe_to_retry_with_its_key(sandbox, api: Api):
    key = api.session.headers["X-API-Key"]
    sandbox.admin.set_faults(drop_rate=1.0)
    with pytest.raises(requests.exceptions.RequestException):
        api.post("/communication/sms", json=SMS, headers={"Idempotency-Key": "drop-1"})
    sandbox.admin.clear_faults()
    retry = api.post("/communication/sms", json=SMS, headers={"Idempotency-Key": "drop-1"})
    assert retry.status_code == 201
    assert len(sandbox.admin.records(key, "sms")) == 1


def test_fault_draws_repeat_with_the_same_seed(sandbox, api: Api):
    def run() -> list[int]:
        sandbox.admin.set_faults(error_rate=0.3, html_502_rate=0.3, fault_seed=42)
        return [api.get("/payments/wallet").status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert {200, 500, 502} <= set(first)


def test_slow_answers_are_delayed(sandbox, api: Api):
    sandbox.admin.set_faults(slow_rate=1.0, slow_seconds=0.3)
    started = time.monotonic()
    assert api.get("/payments/wallet").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_burst_429_hits_the_next_n_requests_per_key(sandbox, make_api):
    a, b = make_api(), make_api()
    sandbox.admin.set_faults(burst_429=2)
    codes_a = [a.get("/payments/wallet") for _ in range(3)]
    assert [r.status_code for r in codes_a] == [429, 429, 200]
    assert codes_a[0].headers["Retry-After"] == "1"
    assert codes_a[0].json() == {"detail": "Rate limit exceeded"}
    assert b.get("/payments/wallet").status_code == 429


def test_burst_429_asks_for_the_retry_after_it_is_given(sandbox, api: Api):
    sandbox.admin.set_faults(burst_429=1, burst_retry_after=60)
    refused = api.get("/payments/wallet")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"


def test_admin_api_is_never_faulted(sandbox, api: Api):
    sandbox.admin.set_faults(error_rate=1.0)
    assert sandbox.admin.stats()["requests_total"] >= 0
    sandbox.admin.clear_faults()


def test_stats_count_statuses_faults_and_paths(sandbox, api: Api):
    sandbox.admin.reset_stats()
    api.get("/agents")
    sandbox.admin.set_faults(html_502_rate=1.0)
    api.get("/agents")
    stats = sandbox.admin.stats()
    assert stats["requests_total"] == 2
    assert stats["by_status"] == {"200": 1, "502": 1}
    assert stats["faults"] == {"html_502": 1}
    assert stats["paths"]["GET /agents"] == 2


def test_rate_limit_answers_429_with_integer_retry_after(sandbox, api: Api):
    sandbox.admin.set_rate_limit(5)
    responses = [api.get("/payments/wallet") for _ in range(20)]
    limited = [r for r in responses if r.status_code == 429]
    assert 0 < len(limited) < 20
    assert sum(r.status_code == 200 for r in responses) >= 5
    for response in limited:
        assert response.json() == {"detail": "Rate limit exceeded"}
        assert int(response.headers["Retry-After"]) >= 1


def test_rate_limit_is_per_api_key(sandbox, make_api):
    a, b = make_api(), make_api()
    sandbox.admin.set_rate_limit(1)
    assert a.get("/payments/wallet").status_code == 200
    assert a.get("/payments/wallet").status_code == 429
    assert b.get("/payments/wallet").status_code == 200


def test_waiting_retry_after_gets_through(sandbox, api: Api):
    sandbox.admin.set_rate_limit(2)
    while (response := api.get("/payments/wallet")).status_code != 429:
        pass
    time.sleep(int(response.headers["Retry-After"]))
    assert api.get("/payments/wallet").status_code == 200


def test_hook_completes_every_request_under_the_rate_limit(sandbox, api: Api, monkeypatch):
    key = api.session.headers["X-API-Key"]
    conn = {"conn_type": "votel", "host": sandbox.base_url, "password": key}
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps(conn))
    sandbox.admin.set_rate_limit(20)
    sandbox.admin.reset_stats()
    hook = VotelHook("votel_default", max_retries=10)
    n = 50
    for i in range(n):
        hook.request("POST", "/communication/sms", json=SMS, idempotency_key=f"rl-{i}")
    stats = sandbox.admin.stats()
    assert stats["by_status"].get("429", 0) > 0
    assert stats["by_status"]["201"] == n
    assert len(sandbox.admin.records(key, "sms")) == n
