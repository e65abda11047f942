"""The hook verbs against the sandbox: each sends what it says, once per key, and checks its input
before any request.

Outside a running task a side-effect verb needs an explicit ``idempotency_key``; inside one the
key is derived (``tests/dags/test_example_runs.py`` runs the TaskFlow example DAG for that).
"""

from __future__ import annotations

import time
from typing import Any

import pendulum
import pytest

from tests.support import SANDBOX_TODAY
from votel_airflow import endpoints
from votel_airflow.exceptions import VotelInputError, VotelNotFoundError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer

TO = "+14155550123"


@pytest.fixture
def hook(votel_connection: str) -> VotelHook:
    return VotelHook(votel_connection)


@pytest.mark.parametrize(
    ("verb", "args"),
    [
        ("send_sms", (TO, "Hello")),
        ("send_email", ("ada@example.com", "Hi")),
        ("start_call", ("agent-1", TO)),
        ("enroll_contacts", ("workflow-1", ["c-1"])),
        ("upsert_contacts", ([{"first_name": "Ada", "phone": TO}], "phone")),
        ("send_message", ("c-1", "sms", "Hello")),
    ],
)
def test_a_side_effect_outside_a_task_without_a_key_fails_before_any_request(
    hook: VotelHook, votel_sandbox: SandboxServer, votel_api_key: str, verb: str, args: tuple[Any, ...]
) -> None:
    kwargs = {"text": "Body"} if verb == "send_email" else {}
    with pytest.raises(VotelInputError) as info:
        getattr(hook, verb)(*args, **kwargs)

    assert info.value.field == "idempotency_key"
    assert f"Pass idempotency_key='...' to {verb}()" in str(info.value)
    for kind in ("sms", "email", "call", "enrollment", "message"):
        assert votel_sandbox.admin.records(votel_api_key, kind) == []


def test_send_sms_sends_once_per_key_with_its_sender(
    hook: VotelHook, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    sender = hook.paginate(endpoints.SETTINGS_PHONE_NUMBERS).__next__()["number"]
    first = hook.send_sms(TO, "Your code is 1234", from_number=sender, idempotency_key="otp-1")
    again = hook.send_sms(TO, "Your code is 1234", from_number=sender, idempotency_key="otp-1")

    assert again["id"] == first["id"]
    (record,) = votel_sandbox.admin.records(votel_api_key, "sms")
    assert (record["recipient"], record["body"], record["idempotency_key"]) == (
        TO,
        "Your code is 1234",
        "otp-1",
    )


def test_send_sms_refuses_a_number_that_is_not_e164_before_any_request(
    hook: VotelHook, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    with pytest.raises(VotelInputError, match="to='4155550123'"):
        hook.send_sms("4155550123", "Hi", idempotency_key="k")
    assert votel_sandbox.admin.records(votel_api_key, "sms") == []


@pytest.mark.parametrize(("verb", "args"), [("send_sms", ("Hi",)), ("start_call", ())])
def test_a_number_no_numbering_plan_allows_is_refused_before_any_request(
    hook: VotelHook, votel_sandbox: SandboxServer, verb: str, args: tuple[str, ...]
) -> None:
    votel_sandbox.admin.reset_stats()
    first = ("agent-1",) if verb == "start_call" else ()
    with pytest.raises(VotelInputError, match=r"to='\+1415555012': no numbering plan allows this number"):
        getattr(hook, verb)(*first, "+1415555012", *args, idempotency_key="k")
    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_send_email_sends_the_contracts_fields_once_per_key(
    hook: VotelHook, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    first = hook.send_email(
        "ada@example.com", "Welcome", text="Hi Ada", html="<p>Hi Ada</p>", idempotency_key="welcome-ada"
    )
    again = hook.send_email("ada@example.com", "Welcome", text="Hi Ada", idempotency_key="welcome-ada")

    assert again["id"] == first["id"]
    assert [r["recipient"] for r in votel_sandbox.admin.records(votel_api_key, "email")] == [
        "ada@example.com"
    ]


def test_send_email_without_content_fails_before_any_request(
    hook: VotelHook, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    with pytest.raises(VotelInputError, match="Pass text, html or template_id"):
        hook.send_email("ada@example.com", "Welcome", idempotency_key="k")
    assert votel_sandbox.admin.records(votel_api_key, "email") == []


def test_send_message_posts_in_the_contacts_thread_once_per_key(
    hook: VotelHook, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    contact_id = next(hook.paginate(endpoints.CONTACTS))["id"]
    first = hook.send_message(contact_id, "sms", "See you soon", idempotency_key="m-1")
    again = hook.send_message(contact_id, "sms", "See you soon", idempotency_key="m-1")

    assert again["id"] == first["id"]
    assert len(votel_sandbox.admin.records(votel_api_key, "message")) == 1


def _agent(hook: VotelHook) -> str:
    return str(hook.get(endpoints.AGENTS)[0]["id"])


def _status(hook: VotelHook, call_id: str) -> str:
    return str(hook.get(endpoints.path(endpoints.CALL, call_id=call_id))["status"])


def test_start_call_starts_one_call_per_key_with_its_variables(
    hook: VotelHook, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    agent_id = _agent(hook)
    first = hook.start_call(agent_id, TO, variables={"name": "Ada"}, idempotency_key="call-ada")
    again = hook.start_call(agent_id, TO, variables={"name": "Ada"}, idempotency_key="call-ada")

    assert again["id"] == first["id"]
    (record,) = votel_sandbox.admin.records(votel_api_key, "call")
    assert record["recipient"] == TO


def test_cancel_call_cancels_a_call_in_flight(slow_votel_connection: str) -> None:
    hook = VotelHook(slow_votel_connection)
    call = hook.start_call(_agent(hook), TO, idempotency_key="to-cancel")

    canceled = hook.cancel_call(call["id"])

    assert canceled is not None
    assert canceled["status"] == "canceled"
    assert _status(hook, call["id"]) == "canceled"


def test_cancel_call_of_a_call_that_already_ended_returns_none_and_logs_the_409(
    hook: VotelHook, caplog: pytest.LogCaptureFixture
) -> None:
    call = hook.start_call(_agent(hook), TO, idempotency_key="ends-soon")
    deadline = time.monotonic() + 30
    while _status(hook, call["id"]) not in ("completed", "failed", "no_answer", "busy"):
        assert time.monotonic() < deadline, "the sandbox call never ended"
        time.sleep(0.2)

    with caplog.at_level("INFO", logger="votel_airflow.hooks.verbs"):
        assert hook.cancel_call(call["id"]) is None

    assert f"Call {call['id']} had already ended" in caplog.text
    assert _status(hook, call["id"]) != "canceled"


def test_find_workflow_finds_the_one_workflow_with_that_name(hook: VotelHook) -> None:
    wanted = hook.get(endpoints.WORKFLOWS)[1]

    assert hook.find_workflow(f" {wanted['name']} ")["id"] == wanted["id"]


def test_find_workflow_with_an_unknown_name_fails_naming_the_workflows_that_exist(hook: VotelHook) -> None:
    names = sorted(w["name"] for w in hook.get(endpoints.WORKFLOWS))

    with pytest.raises(VotelInputError) as info:
        hook.find_workflow("No such workflow")

    assert info.value.field == "workflow_name"
    assert str(names) in str(info.value)


def test_enroll_contacts_enrolls_once_per_key_and_reports_each_outcome(
    hook: VotelHook, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    workflow_id = hook.find_workflow("Missed call follow-up")["id"]
    contacts = [c["id"] for c in hook.paginate(endpoints.CONTACTS, page_size=3)][:2]

    first = hook.enroll_contacts(workflow_id, [*contacts, "no-such-contact"], idempotency_key="enroll-1")
    again = hook.enroll_contacts(workflow_id, [*contacts, "no-such-contact"], idempotency_key="enroll-1")

    assert first == again
    assert sorted(first["enrolled"]) == sorted(contacts)
    assert first["not_found"] == ["no-such-contact"]
    assert len(votel_sandbox.admin.records(votel_api_key, "enrollment")) == 2


def test_enroll_contacts_refuses_more_than_500_ids_before_any_request(
    hook: VotelHook, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    with pytest.raises(VotelInputError, match="1 to 500 ids"):
        hook.enroll_contacts("workflow-1", [f"c-{n}" for n in range(501)], idempotency_key="k")
    assert votel_sandbox.admin.records(votel_api_key, "enrollment") == []


def _wait_for_import(hook: VotelHook, job: dict[str, Any]) -> None:
    deadline = time.monotonic() + 30
    while hook.get(endpoints.path(endpoints.CONTACT_IMPORT, import_id=job["id"]))["status"] != "completed":
        assert time.monotonic() < deadline, "the sandbox import never completed"
        time.sleep(0.1)


def test_upsert_contacts_imports_the_rows_and_a_repeat_updates_the_same_contact(hook: VotelHook) -> None:
    rows = [{"first_name": "Grace", "phone": "+14155550177"}]

    _wait_for_import(hook, hook.upsert_contacts(rows, "phone", idempotency_key="import-1"))
    _wait_for_import(hook, hook.upsert_contacts(rows, "phone", idempotency_key="import-1"))

    found = list(hook.paginate(endpoints.CONTACTS, params={"search": "+14155550177"}))
    assert [c["first_name"] for c in found] == ["Grace"]


def test_upsert_contacts_refuses_an_unknown_match_field_before_any_request(hook: VotelHook) -> None:
    with pytest.raises(VotelInputError, match="match_on"):
        hook.upsert_contacts([{"first_name": "Ada"}], "name", idempotency_key="k")


def test_get_contact_reads_one_contact_and_a_missing_one_is_not_found(hook: VotelHook) -> None:
    contact = next(hook.paginate(endpoints.CONTACTS))

    assert hook.get_contact(contact["id"]) == contact
    with pytest.raises(VotelNotFoundError):
        hook.get_contact("no-such-contact")


@pytest.mark.parametrize(
    ("verb", "endpoint"),
    [
        ("iter_call_logs", endpoints.CALL_LOGS),
        ("iter_meeting_logs", endpoints.MEETING_LOGS),
        ("iter_messaging_logs", endpoints.MESSAGING_LOGS),
        ("iter_transactions", endpoints.TRANSACTIONS),
    ],
)
def test_log_iterators_yield_the_windows_rows_in_order(hook: VotelHook, verb: str, endpoint: str) -> None:
    until = SANDBOX_TODAY
    since = until.subtract(days=7)
    window = {"since": since.isoformat(), "until": until.isoformat()}

    rows = list(getattr(hook, verb)(since, until.isoformat()))

    # Non-empty first: two empty lists would compare equal whatever the verb did.
    assert rows, "the sandbox's seeded week has rows"
    assert rows == list(hook.paginate(endpoint, params=window))


def test_iter_bookings_yields_the_windows_bookings_in_order(hook: VotelHook) -> None:
    # The sandbox seeds no bookings and stamps one with the time it was made: book three, and
    # read the window their own timestamps span, the first one left out by the half-open start.
    calendar = next(hook.paginate(endpoints.CALENDARS))
    contact = next(hook.paginate(endpoints.CONTACTS))
    path = endpoints.path(endpoints.CALENDAR_BOOKINGS, calendar_id=calendar["id"])
    made = [
        hook.request("POST", path, json={"contact_id": contact["id"], "start": f"2030-01-07T{hour}:00:00Z"})
        for hour in ("10", "11", "12")
    ]
    since = pendulum.parse(made[0]["created_at"]).add(microseconds=1)
    until = pendulum.parse(made[-1]["created_at"]).add(microseconds=1)

    rows = list(hook.iter_bookings(since, until))

    assert [row["id"] for row in rows] == [booking["id"] for booking in made[1:]]


def test_log_iterator_filters_are_sent_to_the_api(hook: VotelHook) -> None:
    until = SANDBOX_TODAY
    since = until.subtract(days=7)

    completed = list(hook.iter_call_logs(since, until, status="completed"))

    assert completed
    assert {call["status"] for call in completed} == {"completed"}


def test_a_log_window_that_is_empty_fails_before_any_request(
    hook: VotelHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(VotelHook, "request", lambda *a, **k: pytest.fail("a request was made"))
    with pytest.raises(VotelInputError, match="until="):
        hook.iter_call_logs("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z")
