"""Against a server that ignores ``Idempotency-Key``: nobody reached twice, every doubt reported.

The sandbox runs with ``--no-idempotency`` (a repeated request is done again) and answers a share
of requests 500 *after* doing them. A connection that trusts the header (the default) then texts
people twice; with ``server_idempotency: false`` nobody is texted twice, and every recipient
whose send failed ambiguously is either found in the messaging log or reported.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    FakeStateStore,
    FakeTaskInstance,
    arm_commit_then_500,
    arm_faults_after_screening,
    make_context,
)
from votel_airflow import compat, endpoints
from votel_airflow.delivery import ambiguity, idempotency
from votel_airflow.delivery.engine import SendRequest, send_each
from votel_airflow.delivery.idempotency import TaskProgress, chunk_key, stored_progress
from votel_airflow.exceptions import VotelOutcomeUnknownError, VotelPaymentRequiredError, VotelServerError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.agents import StartCallOperator
from votel_airflow.operators.calendars import CreateBookingOperator
from votel_airflow.operators.communication import SendSmsOperator
from votel_airflow.operators.workflows import EnrollContactOperator
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow

RECIPIENTS = 300
#: The issue's fault: 5 % of requests are done, then answered 500.
AFTER_COMMIT = {"error_after_rate": 0.05, "fault_seed": 7}


def numbers(count: int) -> list[str]:
    return [f"+1415666{n:04d}" for n in range(count)]


def texts_per_number(server: SandboxServer, key: str) -> Counter[str]:
    return Counter(record["recipient"] for record in server.admin.records(key, "sms"))


def sms_task(**kwargs: Any) -> SendSmsOperator:
    return SendSmsOperator(task_id="text", to=numbers(RECIPIENTS), body="Doors open at 9", **kwargs)


def test_sandbox_without_idempotency_does_a_repeated_request_again(
    careless_server: SandboxServer, account: Any
) -> None:
    key = account(server_idempotency=False)
    hook = VotelHook()
    for _ in range(2):
        hook.request("POST", endpoints.SMS, json={"to": "+14156660001", "body": "hi"}, idempotency_key="k-1")

    assert texts_per_number(careless_server, key) == {"+14156660001": 2}


def test_trusting_the_header_texts_people_twice_on_such_a_server(
    careless_server: SandboxServer, account: Any
) -> None:
    # The control: what server_idempotency=false exists to prevent.
    key = account(max_retries=3)
    careless_server.admin.set_faults(**AFTER_COMMIT)

    sms_task(max_concurrency=8).execute(make_context())

    counts = texts_per_number(careless_server, key)
    assert len(counts) == RECIPIENTS
    assert sum(1 for n in counts.values() if n > 1) > 0


def test_an_ambiguous_send_is_not_repeated_by_the_hook(careless_server: SandboxServer, account: Any) -> None:
    key = account(server_idempotency=False, max_retries=5)
    careless_server.admin.set_faults(error_after_rate=1.0)
    careless_server.admin.reset_stats()

    with pytest.raises(VotelOutcomeUnknownError, match=r"server_idempotency=false.*may have taken effect|"
                       r"may have taken effect.*server_idempotency=false"):  # fmt: skip
        VotelHook().request(
            "POST", endpoints.SMS, json={"to": "+14156660002", "body": "hi"}, idempotency_key="k"
        )

    assert texts_per_number(careless_server, key) == {"+14156660002": 1}
    assert careless_server.admin.stats()["by_status"] == {"500": 1}


def test_no_duplicates_under_500_after_commit_and_every_doubt_reconciled(
    careless_server: SandboxServer, account: Any
) -> None:
    key = account(server_idempotency=False, max_retries=3)
    careless_server.admin.set_faults(**AFTER_COMMIT)
    careless_server.admin.reset_stats()

    summary = sms_task(max_concurrency=8, on_ambiguous="skip").execute(
        make_context(state_store=FakeStateStore())
    )

    counts = texts_per_number(careless_server, key)
    faults = careless_server.admin.stats()["faults"]["error_after"]
    assert faults > 0
    assert max(counts.values()) == 1
    # Each 500 came after the SMS was stored, so the log finds every one of them.
    assert len(counts) == RECIPIENTS
    assert summary["reconciled"] == faults
    assert (summary["ambiguous"], summary["ambiguous_recipients"]) == (0, [])
    assert summary["sent"] + summary["reconciled"] == RECIPIENTS
    assert len(summary["message_ids"]) == RECIPIENTS


def test_sends_lost_before_the_commit_are_reported_and_fail_the_task_after_the_rest(
    careless_server: SandboxServer, account: Any
) -> None:
    # Half the 500s come before the SMS is stored: the log cannot find those.
    key = account(server_idempotency=False, max_retries=3)
    careless_server.admin.set_faults(error_rate=0.1, fault_seed=3)
    store = FakeStateStore()
    context = make_context(state_store=store)

    with pytest.raises(ambiguity.VotelAmbiguousRecipientsError) as failure:
        sms_task(max_concurrency=8).execute(context)

    counts = texts_per_number(careless_server, key)
    progress = stored_progress(store, "votel_send_sms")
    doubtful = {k for k, v in progress.items() if ambiguity.marker(v) == ambiguity.AMBIGUOUS}
    assert doubtful
    assert max(counts.values()) == 1
    # Every recipient is texted once or reported, never both, never neither.
    assert set(counts) | doubtful == set(numbers(RECIPIENTS))
    assert not set(counts) & doubtful
    assert f"{len(doubtful)} of {RECIPIENTS} sends failed ambiguously" in str(failure.value)

    # The retry (same task instance, same progress) never sends to them again.
    careless_server.admin.clear_faults()
    with pytest.raises(ambiguity.VotelAmbiguousRecipientsError):
        sms_task(max_concurrency=8).execute(context)
    assert texts_per_number(careless_server, key) == counts


def test_skip_succeeds_and_lists_at_most_100_ambiguous_recipients(
    careless_server: SandboxServer, account: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    account(server_idempotency=False, max_retries=0)
    arm_faults_after_screening(monkeypatch, careless_server.admin, error_rate=1.0, fault_seed=1)

    summary = sms_task(max_concurrency=8, on_ambiguous="skip", reconcile_ambiguous=False).execute(
        make_context(state_store=FakeStateStore())
    )

    assert summary["sent"] == 0
    assert summary["ambiguous"] == RECIPIENTS
    assert len(summary["ambiguous_recipients"]) == ambiguity.MAX_AMBIGUOUS_LISTED
    assert set(summary["ambiguous_recipients"]) <= set(numbers(RECIPIENTS))


def test_a_send_in_flight_when_the_worker_died_is_never_sent_again(
    careless_server: SandboxServer, account: Any
) -> None:
    # What a killed try leaves: the write-ahead mark of a request that may have left.
    key = account(server_idempotency=False)
    store = FakeStateStore()
    target = numbers(1)[0]
    store.values["votel_send_sms"] = {target: ambiguity.pending(0.0)}
    context = make_context(ti=FakeTaskInstance(try_number=2), state_store=store)

    summary = sms_task(max_concurrency=8, on_ambiguous="skip").execute(context)

    counts = texts_per_number(careless_server, key)
    assert target not in counts
    assert len(counts) == RECIPIENTS - 1
    assert summary["ambiguous_recipients"] == [target]


def test_a_send_whose_result_chunk_was_cut_short_stays_ambiguous_and_is_never_sent_again(
    careless_server: SandboxServer, account: Any
) -> None:
    # A killed try wrote its write-ahead chunk, sent, and died while writing the result's chunk:
    # the retry must fall back to the write-ahead (ambiguous), not to "never sent".
    key = account(server_idempotency=False)
    store = FakeStateStore()
    target = numbers(1)[0]
    killed = TaskProgress(make_context(state_store=store), "votel_send_sms")
    killed.record(target, ambiguity.pending(0.0))
    killed.flush()
    killed.record(target, "msg-sent-by-the-killed-try")
    killed.flush()
    store.values[chunk_key("votel_send_sms", 1)] = {"chunk": 1, "items": {}}  # the cut-short write
    context = make_context(ti=FakeTaskInstance(try_number=2), state_store=store)

    summary = sms_task(max_concurrency=8, on_ambiguous="skip", reconcile_ambiguous=False).execute(context)

    counts = texts_per_number(careless_server, key)
    assert target not in counts
    assert len(counts) == RECIPIENTS - 1
    assert summary["ambiguous_recipients"] == [target]


class _WatchedHook(VotelHook):
    """A hook that notes, as each request leaves, whether its recipient was durably pending."""

    def __init__(self, store: FakeStateStore) -> None:
        super().__init__()
        self.store = store
        self.left_unrecorded: list[str] = []

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        recipient = (kwargs.get("json") or {}).get("to")
        if method == "POST" and recipient is not None:
            stored = stored_progress(self.store, "votel_send_sms").get(recipient)
            if ambiguity.marker(stored) != ambiguity.PENDING:
                self.left_unrecorded.append(recipient)
        return super().request(method, path, **kwargs)


def test_each_batch_is_written_ahead_in_one_store_write_before_its_requests_leave(
    careless_server: SandboxServer, account: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The figures: 400 recipients at max_concurrency=8 took 357 writes, about one per
    # recipient. One per batch is 50, plus the final flush of the last results.
    account(server_idempotency=False)
    monkeypatch.setattr(idempotency, "FLUSH_EVERY_SECONDS", 3600.0)  # no flush on the clock
    store = FakeStateStore()
    hook = _WatchedHook(store)

    def sms(number: Any) -> SendRequest:
        return SendRequest("POST", endpoints.SMS, {"to": number, "body": "Doors open at 9"})

    summary = send_each(
        hook, make_context(state_store=store), numbers(400), sms, name="sms", max_concurrency=8
    )

    assert summary["sent"] == 400
    assert hook.left_unrecorded == []
    assert store.writes == 400 // 8 + 1
    assert all(isinstance(v, str) for v in stored_progress(store, "votel_send_sms").values())


def call_task(agent_id: str, **kwargs: Any) -> StartCallOperator:
    return StartCallOperator(task_id="call", agent_id=agent_id, to="+14156669999", **kwargs)


def first_agent() -> str:
    return str(VotelHook().get(endpoints.AGENTS)[0]["id"])


def calls_to(server: SandboxServer, key: str, number: str) -> int:
    return sum(1 for record in server.admin.records(key, "call") if record["recipient"] == number)


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_an_ambiguous_call_start_is_never_made_again_by_a_retry(
    careless_server: SandboxServer, account: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = account(server_idempotency=False)
    agent = first_agent()
    context = make_context(state_store=FakeStateStore())
    from votel_airflow.delivery import screening

    unarmed = screening.screen
    # After the outreach policy's reads, which would otherwise stop the call before its start.
    arm_faults_after_screening(monkeypatch, careless_server.admin, error_after_rate=1.0)

    with pytest.raises(ambiguity.VotelAmbiguousRecipientsError, match=r"\+14156669999"):
        call_task(agent).execute(context)
    monkeypatch.setattr(screening, "screen", unarmed)
    careless_server.admin.clear_faults()
    with pytest.raises(ambiguity.VotelAmbiguousRecipientsError):
        call_task(agent).execute(context)
    skipped = call_task(agent, on_ambiguous="skip").execute(context)

    assert calls_to(careless_server, key, "+14156669999") == 1
    assert skipped == {
        "id": None,
        "status": "ambiguous",
        "ambiguous": 1,
        "ambiguous_recipients": ["+14156669999"],
    }


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_a_retry_re_reads_the_call_it_started_instead_of_ringing_again(
    careless_server: SandboxServer, account: Any
) -> None:
    key = account(server_idempotency=False)
    context = make_context(state_store=FakeStateStore())

    agent = first_agent()
    first = call_task(agent).execute(context)
    second = call_task(agent).execute(context)

    assert second["id"] == first["id"]
    assert calls_to(careless_server, key, "+14156669999") == 1


@pytest.mark.skipif(
    (compat.airflow_version() or "").startswith(("3.0.", "3.1.", "3.2.")),
    reason="the verbs keep their answers in the task state store, which Airflow has from 3.3",
)
def test_a_retried_task_gets_its_verbs_sms_back_without_asking_such_a_server_again(
    careless_server: SandboxServer, account: Any, airflow_db: Path, dags: Path
) -> None:
    from tests.delivery.test_verbs import run_retried_verb

    key = account(server_idempotency=False)

    retry = run_retried_verb(dags, "send_sms('+14156660001', 'Your order shipped')")

    # One text, the one the first try sent: the retry asked nothing of a server that would text again.
    assert [sms["id"] for sms in careless_server.admin.records(key, "sms")] == [retry["id"]]


def _enrollments(server: SandboxServer, key: str) -> Counter[str]:
    return Counter(record["contact_id"] for record in server.admin.records(key, "enrollment"))


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_ambiguous_enrollment_batches_are_never_resent_and_are_reconciled_or_reported(
    careless_server: SandboxServer, account: Any
) -> None:
    key = account(server_idempotency=False, max_retries=2)
    hook = VotelHook()
    workflow_id = str(hook.get(endpoints.WORKFLOWS)[0]["id"])
    contact_ids = sorted(str(c["id"]) for c in hook.paginate(endpoints.CONTACTS))
    before = _enrollments(careless_server, key)
    careless_server.admin.set_faults(error_rate=0.5, fault_seed=5)
    store = FakeStateStore()
    context = make_context(state_store=store)
    task = EnrollContactOperator(
        task_id="enroll", workflow_id=workflow_id, contact_ids=contact_ids, batch_size=2
    )

    with pytest.raises(ambiguity.VotelAmbiguousRecipientsError):
        task.execute(context)
    careless_server.admin.clear_faults()
    result = EnrollContactOperator(
        task_id="enroll", workflow_id=workflow_id, contact_ids=contact_ids, batch_size=2, on_ambiguous="skip"
    ).execute(context)

    added = _enrollments(careless_server, key) - before
    assert max(added.values()) == 1
    assert result["ambiguous"] == len(result["ambiguous_recipients"]) > 0
    # Enrolled once (by a request, or found in the enrollments), or reported: never both, never neither.
    reported = set(result["ambiguous_recipients"])
    settled = set(result["enrolled"]) | set(result["already_enrolled"])
    assert settled | reported == set(contact_ids)
    assert not settled & reported
    assert not reported & set(added)


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_a_booking_whose_answer_was_lost_is_returned_by_the_retry_not_booked_again(
    careless_server: SandboxServer, account: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The contract promises no Idempotency-Key on bookings: a keyed POST retried by the hook met a
    # 409 on its own booking (and with "next_free" booked a second slot).
    key = account()
    hook = VotelHook()
    calendar = hook.get(endpoints.CALENDARS)[0]
    contact = hook.get(endpoints.CONTACTS, {"limit": 1})[0]["id"]
    operator = CreateBookingOperator(
        task_id="book", calendar_id=calendar["id"], contact_id=contact, start="2030-01-08T10:00:00Z",
        on_conflict="next_free",
    )  # fmt: skip
    arm_commit_then_500(careless_server, monkeypatch)("/bookings")
    with pytest.raises(VotelServerError):
        operator.execute(make_context())

    booking = operator.execute(make_context(ti=FakeTaskInstance(try_number=2)))

    assert [r["id"] for r in careless_server.admin.records(key, "booking")] == [booking["id"]]
    assert booking["start"] == "2030-01-08T10:00:00+00:00"


STOPPED = re.compile(r"(\d+) of (\d+) sent before the wallet ran out .*?; (?:.*?)?(\d+) not sent\.")


def test_a_402_says_exactly_how_many_were_sent_and_not_sent_as_the_server_recorded(
    careless_server: SandboxServer, account: Any
) -> None:
    # The figures: "29 not sent" when 37 were not. The recipients in flight at the 402,
    # and those written ahead, are recorded "unsent" in the progress: they count as not sent.
    key = account(server_idempotency=False)
    careless_server.admin.set_wallet(key, 0.20)  # 20 SMS at 0.01
    store = FakeStateStore()

    with pytest.raises(VotelPaymentRequiredError) as info:
        SendSmsOperator(task_id="text", to=numbers(60), body="Doors open", max_concurrency=8).execute(
            make_context(state_store=store)
        )

    texted = len(careless_server.admin.records(key, "sms"))
    match = STOPPED.search(str(info.value))
    assert match, str(info.value)
    assert (int(match[1]), int(match[2]), int(match[3])) == (texted, 60, 60 - texted)
    assert texted == 20
