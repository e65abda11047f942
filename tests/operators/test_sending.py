"""The bulk-send engine against the sandbox over HTTP: exactly once, resume, pace, stop on 402."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support import FakeStateStore, FakeTaskInstance, make_context
from votel_airflow import endpoints
from votel_airflow.compat import AirflowFailException
from votel_airflow.delivery.engine import (
    MAX_IDS_IN_XCOM,
    RateLimiter,
    SendRequest,
    recipient_key,
    send_each,
)
from votel_airflow.delivery.idempotency import idempotency_key, stored_progress
from votel_airflow.exceptions import (
    VotelBadRequestError,
    VotelInputError,
    VotelInterruptedError,
    VotelPaymentRequiredError,
)
from votel_airflow.hooks.votel import VotelHook


def numbers(count: int, start: int = 0) -> list[str]:
    # Last digits 13 and 66 make the sandbox fail delivery, which does not matter for sending.
    return [f"+1415555{n:04d}" for n in range(start, start + count)]


def sms(number: Any) -> SendRequest:
    return SendRequest("POST", endpoints.SMS, {"to": number, "body": "Hello"})


def sms_per_recipient(admin: Any, api_key: str) -> Counter[str]:
    return Counter(record["recipient"] for record in admin.records(api_key, "sms"))


def test_each_recipient_gets_one_request_with_its_own_idempotency_key(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    context = make_context()
    targets = numbers(12)

    summary = send_each(VotelHook(), context, targets, sms, name="sms", max_concurrency=4)

    records = votel_sandbox.admin.records(votel_api_key, "sms")
    assert sorted(r["recipient"] for r in records) == targets
    assert {r["idempotency_key"] for r in records} == {idempotency_key(context, "sms", n) for n in targets}
    assert summary["sent"] == 12
    assert len(summary["message_ids"]) == 12
    assert {r["id"] for r in records} == set(summary["message_ids"])


def test_duplicate_recipients_are_sent_once(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    targets = numbers(3)

    summary = send_each(VotelHook(), make_context(), targets + targets[:2], sms, name="sms")

    assert sms_per_recipient(votel_sandbox.admin, votel_api_key) == Counter(targets)
    assert (summary["requested"], summary["duplicates"], summary["sent"]) == (5, 2, 3)


def test_a_retry_with_a_state_store_resumes_without_any_request(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    store = FakeStateStore()
    targets = numbers(30)
    first = send_each(VotelHook(), make_context(state_store=store), targets, sms, name="sms")
    votel_sandbox.admin.reset_stats()

    second = send_each(
        VotelHook(),
        make_context(state_store=store, ti=FakeTaskInstance(try_number=2)),
        targets,
        sms,
        name="sms",
    )

    assert votel_sandbox.admin.stats()["requests_total"] == 0
    assert (second["resumed"], second["sent"]) == (30, 0)
    assert second["message_ids"] == first["message_ids"]


def test_a_retry_without_a_state_store_is_answered_from_the_idempotency_cache(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    targets = numbers(10)
    first = send_each(VotelHook(), make_context(), targets, sms, name="sms")

    second = send_each(VotelHook(), make_context(), targets, sms, name="sms")

    assert sms_per_recipient(votel_sandbox.admin, votel_api_key) == Counter(targets)
    assert second["message_ids"] == first["message_ids"]


def test_a_402_midway_stops_at_once_and_says_how_many_were_sent(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    store = FakeStateStore()
    votel_sandbox.admin.set_wallet(votel_api_key, 0.25)  # 25 SMS at 0.01
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelPaymentRequiredError) as info:
        send_each(
            VotelHook(), make_context(state_store=store), numbers(200), sms, name="sms", max_concurrency=4
        )

    assert "25 of 200 sent before the wallet ran out" in str(info.value)
    assert len(votel_sandbox.admin.records(votel_api_key, "sms")) == 25
    # Only the requests already in flight when the first 402 came back may have followed it: the
    # 25 accepted, at least one 402, and at most the other max_concurrency - 1 in flight.
    assert 25 < votel_sandbox.admin.stats()["paths"][f"POST {endpoints.SMS}"] <= 25 + 4
    assert len(stored_progress(store, "votel_send_sms")) == 25


def test_after_a_402_a_retry_sends_only_to_the_rest(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    store = FakeStateStore()
    targets = numbers(40)
    votel_sandbox.admin.set_wallet(votel_api_key, 0.1)
    with pytest.raises(VotelPaymentRequiredError):
        send_each(VotelHook(), make_context(state_store=store), targets, sms, name="sms", max_concurrency=3)
    votel_sandbox.admin.set_wallet(votel_api_key, 10.0)

    summary = send_each(VotelHook(), make_context(state_store=store), targets, sms, name="sms")

    assert sms_per_recipient(votel_sandbox.admin, votel_api_key) == Counter(targets)
    assert (summary["resumed"], summary["sent"]) == (10, 30)


def test_rate_limit_spaces_request_starts(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    targets = numbers(11)
    started = time.monotonic()

    send_each(VotelHook(), make_context(), targets, sms, name="sms", max_concurrency=8, rate_limit=20)

    assert time.monotonic() - started >= (len(targets) - 1) / 20
    assert len(votel_sandbox.admin.records(votel_api_key, "sms")) == 11


def test_rate_limiter_shared_by_threads_never_runs_ahead_of_its_rate() -> None:
    limiter = RateLimiter(50.0)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    begun = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Start k (counting from 0) may not come before k intervals have passed, whichever thread made it;
    # a late thread can only make the gaps bigger, never let one run early.
    assert len(starts) == 20
    assert all(start >= begun + k * 0.02 - 1e-3 for k, start in enumerate(sorted(starts)))
    assert sorted(starts)[-1] - begun < 2.0


def test_rate_limiter_wait_ends_when_the_send_is_stopped() -> None:
    # The next slot is 20 s away: a stop that is not heard waits it out, far past the bound, and
    # the bound leaves a loaded machine seconds of slack, not the tenths it had before.
    limiter = RateLimiter(0.05)
    stop = threading.Event()
    assert limiter.acquire(stop) is True
    stop.set()
    started = time.monotonic()

    assert limiter.acquire(stop) is False
    assert time.monotonic() - started < 10


def test_refused_recipients_fail_the_send_after_the_others_are_sent(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    # The engine trusts its caller's validation; the sandbox answers 422 for a non-E.164 "to".
    targets = [*numbers(3), "not-a-number"]

    with pytest.raises(VotelBadRequestError) as info:
        send_each(VotelHook(), make_context(), targets, sms, name="sms", on_rejected="fail")

    assert isinstance(info.value, AirflowFailException)  # a retry would be refused again
    assert "refused 1 of 4 recipients" in str(info.value)
    assert "not-a-number" in str(info.value)
    assert sorted(sms_per_recipient(votel_sandbox.admin, votel_api_key)) == numbers(3)


def test_refused_recipients_are_listed_when_skipped(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    summary = send_each(
        VotelHook(), make_context(), [*numbers(2), "bad"], sms, name="sms", on_rejected="skip"
    )

    assert (summary["sent"], summary["failed"]) == (2, 1)
    assert summary["errors"][0]["recipient"] == "bad"


def test_over_a_thousand_ids_the_summary_is_capped_and_the_full_map_written(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, tmp_path: Path
) -> None:
    targets = numbers(1005)
    destination = tmp_path / "results" / "sms.json"

    summary = send_each(
        VotelHook(),
        make_context(),
        targets,
        sms,
        name="sms",
        max_concurrency=16,
        results_destination=str(destination),
    )

    written = json.loads(destination.read_text())
    assert sorted(written) == targets
    assert len(summary["message_ids"]) == MAX_IDS_IN_XCOM
    assert summary["message_ids_truncated"] is True
    assert summary["message_ids"] == [written[n] for n in targets[:MAX_IDS_IN_XCOM]]
    assert summary["results_uri"].endswith("results/sms.json")
    assert list(tmp_path.joinpath("results").iterdir()) == [destination]


def test_dict_recipients_are_keyed_by_their_canonical_json(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    people = [{"to": "+14155550101", "name": "Ada"}, {"name": "Ada", "to": "+14155550101"}]

    def personal(person: Any) -> SendRequest:
        return SendRequest("POST", endpoints.SMS, {"to": person["to"], "body": f"Hi {person['name']}"})

    summary = send_each(VotelHook(), make_context(), people, personal, name="sms")

    assert summary["duplicates"] == 1
    assert [r["body"] for r in votel_sandbox.admin.records(votel_api_key, "sms")] == ["Hi Ada"]
    assert recipient_key(people[0]) == '{"name":"Ada","to":"+14155550101"}'


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"rate_limit": -1}, "rate_limit"),
        ({"on_rejected": "x"}, "on_rejected"),
    ],
)
def test_bad_engine_arguments_fail_before_any_request(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(VotelInputError) as info:
        send_each(VotelHook("no_such_conn"), make_context(), ["+14155550101"], sms, name="sms", **kwargs)
    assert info.value.field == field


def test_a_retry_counts_refused_recipients_as_refused_not_resumed(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    store = FakeStateStore()
    targets = [*numbers(3), "not-a-number"]
    send_each(VotelHook(), make_context(state_store=store), targets, sms, name="sms", on_rejected="skip")

    retry = make_context(state_store=store, ti=FakeTaskInstance(try_number=2))
    summary = send_each(VotelHook(), retry, targets, sms, name="sms", on_rejected="skip")
    with pytest.raises(VotelBadRequestError) as info:
        send_each(VotelHook(), retry, targets, sms, name="sms", on_rejected="fail")

    texted = len(sms_per_recipient(votel_sandbox.admin, votel_api_key))
    assert (summary["resumed"], summary["sent"], summary["failed"]) == (texted, 0, 1)
    assert f"; {texted} were sent" in str(info.value)


def test_a_402_after_refusals_counts_them_apart_from_the_sent(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    store = FakeStateStore()
    refused = ["not-a-number", "+1"]
    send_each(VotelHook(), make_context(state_store=store), refused, sms, name="sms", on_rejected="skip")
    votel_sandbox.admin.set_wallet(votel_api_key, 0.05)  # 5 SMS at 0.01

    with pytest.raises(VotelPaymentRequiredError) as info:
        send_each(
            VotelHook(), make_context(state_store=store), [*refused, *numbers(20)], sms, name="sms",
            max_concurrency=3,
        )  # fmt: skip

    texted = len(sms_per_recipient(votel_sandbox.admin, votel_api_key))
    assert texted == 5
    assert f"{texted} of 22 sent before the wallet ran out" in str(info.value)
    assert f"2 refused by the API, {20 - texted} not sent" in str(info.value)


@pytest.mark.parametrize("server_idempotency", [True, False], ids=["keys", "no-keys"])
def test_an_interrupted_send_stops_at_once_and_reports_the_rest_as_not_sent(
    votel_sandbox: Any, votel_api_key: str, monkeypatch: pytest.MonkeyPatch, server_idempotency: bool
) -> None:
    conn = {
        "conn_type": "votel",
        "host": votel_sandbox.base_url,
        "password": votel_api_key,
        "extra": {"server_idempotency": server_idempotency},
    }
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps(conn))
    store = FakeStateStore()
    targets = numbers(40)
    hook = VotelHook()
    votel_sandbox.admin.reset_stats()

    def build_then_kill(number: Any) -> SendRequest:
        # on_kill arrives while the 11th recipient's request is being prepared.
        if number == targets[10]:
            hook.interrupt()
        return sms(number)

    with pytest.raises(VotelInterruptedError) as info:
        send_each(
            hook, make_context(state_store=store), targets, build_then_kill, name="sms", max_concurrency=4
        )

    texted = len(sms_per_recipient(votel_sandbox.admin, votel_api_key))
    assert 0 < texted <= 10 + 4
    # The interrupted requests never left, and the error counts what the sandbox recorded.
    assert votel_sandbox.admin.stats()["paths"][f"POST {endpoints.SMS}"] == texted
    assert f"{texted} of 40 sent before the task was stopped" in str(info.value)
    assert f"; {40 - texted} not sent." in str(info.value)
    assert "failed after every retry" not in str(info.value)

    retry = send_each(
        VotelHook(),
        make_context(state_store=store, ti=FakeTaskInstance(try_number=2)),
        targets,
        sms,
        name="sms",
    )

    assert sms_per_recipient(votel_sandbox.admin, votel_api_key) == Counter(targets)
    assert (retry["resumed"], retry["sent"], retry["failed"], retry["ambiguous"]) == (
        texted,
        40 - texted,
        0,
        0,
    )
