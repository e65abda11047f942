"""Conversations against the sandbox: exactly-once thread messages, and threads extracted by window."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import FakeStateStore, dagrun_task_states, make_context, run_dag, write_dag
from votel_airflow.delivery.local_time import number_zones
from votel_airflow.exceptions import VotelBadRequestError, VotelInputError, VotelPaymentRequiredError
from votel_airflow.operators.conversations import ConversationExtractOperator, SendMessageOperator

UNKNOWN_CONTACT = "00000000-0000-4000-8000-000000000000"


def api_list(sandbox: Any, api_key: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every record of a list endpoint, read directly (not through the provider)."""
    records: list[dict[str, Any]] = []
    while True:
        response = requests.get(
            f"{sandbox.base_url}{path}",
            headers={"X-API-Key": api_key},
            params={**params, "limit": 500, "offset": len(records)},
            timeout=30,
        )
        response.raise_for_status()
        page = response.json()
        records.extend(page)
        if len(page) < 500:
            return records


def quiet_contacts(sandbox: Any, api_key: str, count: int) -> list[dict[str, Any]]:
    """Contacts with a phone and an e-mail that the sandbox will not answer (phone not ending in 7),
    that the outreach policy lets through at the suite's clock: no STOP reply in the seeded log,
    a number in one time zone."""
    stopped = {
        row["from"]
        for row in api_list(
            sandbox, api_key, "/activity/messaging-logs", direction="inbound", channel="sms",
            since="2000-01-01T00:00:00Z", until="2100-01-01T00:00:00Z",
        )
        if str(row.get("body") or "").strip().upper() == "STOP"
    }  # fmt: skip
    contacts = [
        c
        for c in api_list(sandbox, api_key, "/contacts")
        if c.get("phone")
        and c.get("email")
        and not c["phone"].endswith(("7", "13", "66"))
        and c["phone"] not in stopped
        # One zone, daytime at the suite's clock: a number in no assigned range spans the whole
        # plan (Guam to Hawaii), where some zone is always in its quiet hours.
        and len(number_zones(c["phone"])) == 1
    ]
    assert len(contacts) >= count
    return contacts[:count]


def test_send_message_reaches_each_contact_once_and_returns_the_summary(
    votel_sandbox, votel_api_key, votel_connection
):
    contacts = quiet_contacts(votel_sandbox, votel_api_key, 3)
    ids = [c["id"] for c in contacts]

    summary = SendMessageOperator(
        task_id="send", contact_ids=[*ids, ids[0]], channel="sms", body="Your visit is tomorrow"
    ).execute(make_context())

    records = votel_sandbox.admin.records(votel_api_key, "message")
    assert sorted(r["contact_id"] for r in records) == sorted(ids)
    assert {r["recipient"] for r in records} == {c["phone"] for c in contacts}
    assert {r["body"] for r in records} == {"Your visit is tomorrow"}
    assert summary["sent"] == 3
    assert summary["duplicates"] == 1
    assert sorted(summary["message_ids"]) == sorted(r["id"] for r in records)
    assert json.loads(json.dumps(summary)) == summary


def test_send_message_files_the_message_in_the_contacts_thread(
    votel_sandbox, votel_api_key, votel_connection
):
    [contact] = quiet_contacts(votel_sandbox, votel_api_key, 1)

    summary = SendMessageOperator(
        task_id="send", contact_ids=contact["id"], channel="email", body="See you", subject="Your visit"
    ).execute(make_context())

    [thread] = [
        t
        for t in api_list(votel_sandbox, votel_api_key, "/conversations", channel="email")
        if t["contact_id"] == contact["id"]
    ]
    messages = api_list(votel_sandbox, votel_api_key, f"/conversations/{thread['id']}/messages")
    assert messages[-1]["id"] == summary["message_ids"][0]
    assert (messages[-1]["subject"], messages[-1]["to"]) == ("Your visit", contact["email"])


def test_send_message_sends_nothing_again_when_the_task_instance_retries(
    votel_sandbox, votel_api_key, votel_connection
):
    ids = [c["id"] for c in quiet_contacts(votel_sandbox, votel_api_key, 2)]
    operator = SendMessageOperator(task_id="send", contact_ids=ids, channel="whatsapp", body="Hello")
    store = FakeStateStore()

    first = operator.execute(make_context(state_store=store))
    # A retry with the progress lost (no task state store): only the idempotency keys protect it.
    second = operator.execute(make_context())
    # A retry that kept its progress: nothing is even requested.
    votel_sandbox.admin.reset_stats()
    third = operator.execute(make_context(state_store=store))

    assert len(votel_sandbox.admin.records(votel_api_key, "message")) == 2
    assert sorted(second["message_ids"]) == sorted(first["message_ids"])
    assert third["resumed"] == 2
    assert third["sent"] == 0
    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_send_message_stops_on_an_empty_wallet_saying_how_many_were_sent(
    votel_sandbox, votel_api_key, votel_connection
):
    ids = [c["id"] for c in quiet_contacts(votel_sandbox, votel_api_key, 3)]
    votel_sandbox.admin.set_wallet(votel_api_key, 0.015)  # one SMS segment's worth

    with pytest.raises(VotelPaymentRequiredError, match="1 of 3 sent before the wallet ran out"):
        SendMessageOperator(
            task_id="send", contact_ids=ids, channel="sms", body="Hi", max_concurrency=1
        ).execute(make_context())

    assert len(votel_sandbox.admin.records(votel_api_key, "message")) == 1


def test_send_message_reports_unknown_contacts_after_sending_to_the_others(
    votel_sandbox, votel_api_key, votel_connection
):
    [contact] = quiet_contacts(votel_sandbox, votel_api_key, 1)
    kwargs = {
        "task_id": "send",
        "contact_ids": [contact["id"], UNKNOWN_CONTACT],
        "channel": "sms",
        "body": "Hi",
    }

    with pytest.raises(VotelBadRequestError, match=f"refused 1 of 2 .*{UNKNOWN_CONTACT}.*Lead not found"):
        SendMessageOperator(**kwargs).execute(make_context())
    summary = SendMessageOperator(**kwargs, on_invalid="skip").execute(make_context())

    assert [r["contact_id"] for r in votel_sandbox.admin.records(votel_api_key, "message")] == [contact["id"]]
    assert summary["failed"] == 1
    assert summary["errors"] == [{"recipient": UNKNOWN_CONTACT, "error": "Lead not found"}]


def test_send_message_rejects_an_unknown_channel_at_parse_time():
    with pytest.raises(VotelInputError, match=r"channel='fax': is not one of \['email', 'sms', 'whatsapp'\]"):
        SendMessageOperator(task_id="send", contact_ids=["c-1"], channel="fax", body="Hi")


def test_send_message_rejects_a_subject_outside_email_before_sending(
    votel_sandbox, votel_api_key, votel_connection
):
    ids = [c["id"] for c in quiet_contacts(votel_sandbox, votel_api_key, 2)]
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"subject='Offer': is for e-mail only, not channel='sms'"):
        SendMessageOperator(
            task_id="send", contact_ids=ids, channel="sms", body="Hi", subject="Offer"
        ).execute(make_context())

    assert votel_sandbox.admin.records(votel_api_key, "message") == []
    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_send_message_rejects_a_blank_rendered_body_before_sending(
    votel_sandbox, votel_api_key, votel_connection
):
    ids = [c["id"] for c in quiet_contacts(votel_sandbox, votel_api_key, 1)]
    operator = SendMessageOperator(task_id="send", contact_ids=ids, channel="sms", body="{{ params.text }}")
    operator.body = "   "  # as rendered from an empty param

    with pytest.raises(VotelInputError, match=r"body='   ': must be a non-empty string"):
        operator.execute(make_context())

    assert votel_sandbox.admin.records(votel_api_key, "message") == []


def test_send_message_renders_templates_and_takes_contact_ids_from_xcom_in_a_dag_run(
    tmp_path: Path, dags: Path, airflow_db, votel_sandbox, votel_api_key, votel_connection
):
    contacts = quiet_contacts(votel_sandbox, votel_api_key, 2)
    out = tmp_path / "summary.json"
    write_dag(
        dags,
        f"""
        from datetime import datetime, timedelta
        from airflow.sdk import DAG, task
        from votel_airflow.operators.conversations import SendMessageOperator

        with DAG("send_message_dag", schedule=None, start_date=datetime(2026, 1, 1),
                 params={{"channel": "email", "offer": "20%", "out": {str(tmp_path / "results")!r}}},
                 default_args={{"retries": 0, "retry_delay": timedelta(0)}}):
            @task
            def pick():
                return {[c["id"] for c in contacts]!r}

            send = SendMessageOperator(
                task_id="send", contact_ids=pick(), channel="{{{{ params.channel }}}}",
                body="Save {{{{ params.offer }}}} this week", subject="Offer for {{{{ ds }}}}",
                results_destination="{{{{ params.out }}}}/{{{{ run_id | replace(':', '_') }}}}.json",
            )

            @task
            def keep(summary):
                open({str(out)!r}, "w").write(__import__("json").dumps(summary))

            keep(send.output)
        """,
    )

    dagrun = run_dag(dags, "send_message_dag")

    assert dagrun_task_states(dagrun) == {"pick": "success", "send": "success", "keep": "success"}
    records = votel_sandbox.admin.records(votel_api_key, "message")
    assert sorted(r["recipient"] for r in records) == sorted(c["email"] for c in contacts)
    assert {r["body"] for r in records} == {"Save 20% this week"}
    assert all(r["subject"].startswith("Offer for 20") and r["channel"] == "email" for r in records)
    summary = json.loads(out.read_text())
    assert sorted(summary["message_ids"]) == sorted(r["id"] for r in records)
    [results] = list((tmp_path / "results").glob("manual__*.json"))
    assert summary["results_uri"] == f"file://{results}"
    assert json.loads(results.read_text()) == {r["contact_id"]: r["id"] for r in records}


def expected_threads(sandbox: Any, api_key: str, since: str, until: str) -> list[dict[str, Any]]:
    """Every thread with messages in the window, built from the messaging log of the window."""
    by_thread: dict[str, list[dict[str, Any]]] = {}
    for message in api_list(sandbox, api_key, "/activity/messaging-logs", since=since, until=until):
        by_thread.setdefault(message["conversation_id"], []).append(message)
    threads = {t["id"]: t for t in api_list(sandbox, api_key, "/conversations")}
    return [
        {
            **{k: v for k, v in threads[tid].items() if k not in ("last_message_at", "unread")},
            "messages": messages,
        }
        for tid, messages in sorted(by_thread.items())
    ]


def _window(sandbox: Any, api_key: str) -> tuple[str, str]:
    stamps = sorted(m["created_at"] for m in api_list(sandbox, api_key, "/activity/messaging-logs"))
    # A late window: the contract makes one request per thread active since the window's start.
    return stamps[-len(stamps) // 5], stamps[-5]


def test_conversation_extract_writes_threads_with_their_window_messages(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    since, until = _window(votel_sandbox, votel_api_key)
    expected = expected_threads(votel_sandbox, votel_api_key, since, until)
    destination = tmp_path / "threads.jsonl"

    manifest = ConversationExtractOperator(
        task_id="threads", destination=str(destination), since=since, until=until, page_size=40
    ).execute(make_context())

    rows = [json.loads(line) for line in destination.read_text().splitlines()]
    assert rows == expected
    assert manifest["records"] == len(expected) > 0
    assert manifest["messages"] == sum(len(r["messages"]) for r in expected)
    assert (manifest["since"], manifest["format"]) == (since.replace("Z", "+00:00"), "jsonl")


def test_conversation_extract_keeps_one_channel_and_reruns_identically(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    since, until = _window(votel_sandbox, votel_api_key)
    kwargs = {"task_id": "threads", "since": since, "until": until, "filters": {"channel": "email"}}

    ConversationExtractOperator(destination=str(tmp_path / "a.jsonl"), **kwargs).execute(make_context())
    # New activity after the window must not change a rerun of it.
    [contact] = quiet_contacts(votel_sandbox, votel_api_key, 1)
    SendMessageOperator(task_id="send", contact_ids=contact["id"], channel="email", body="New").execute(
        make_context()
    )
    ConversationExtractOperator(destination=str(tmp_path / "b.jsonl"), **kwargs).execute(make_context())

    first = (tmp_path / "a.jsonl").read_bytes()
    assert first == (tmp_path / "b.jsonl").read_bytes()
    rows = [json.loads(line) for line in first.splitlines()]
    assert rows
    assert {r["channel"] for r in rows} == {"email"}
    assert rows == [
        r for r in expected_threads(votel_sandbox, votel_api_key, since, until) if r["channel"] == "email"
    ]


def test_conversation_extract_rejects_an_unknown_channel_and_writes_nothing(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    votel_sandbox.admin.reset_stats()
    operator = ConversationExtractOperator(
        task_id="threads",
        destination=str(tmp_path / "threads.jsonl"),
        since="2024-01-01T00:00:00Z",
        until="2025-01-01T00:00:00Z",
        filters={"channel": "telegram"},
    )

    with pytest.raises(VotelInputError, match=r"filters.channel='telegram': is not one of"):
        operator.execute(make_context())

    assert list(tmp_path.iterdir()) == []
    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_conversation_extract_renders_its_templated_fields_in_a_dag_run(
    tmp_path: Path, dags: Path, airflow_db, votel_sandbox, votel_api_key, votel_connection
):
    since, until = _window(votel_sandbox, votel_api_key)
    out = tmp_path / "out"
    write_dag(
        dags,
        f"""
        from datetime import datetime, timedelta
        from airflow.sdk import DAG, task
        from votel_airflow.operators.conversations import ConversationExtractOperator

        with DAG("threads_dag", schedule=None, start_date=datetime(2026, 1, 1),
                 params={{"since": {since!r}, "until": {until!r}, "channel": "sms", "out": {str(out)!r}}},
                 default_args={{"retries": 0, "retry_delay": timedelta(0)}}):
            threads = ConversationExtractOperator(
                task_id="threads", destination="{{{{ params.out }}}}/{{{{ params.channel }}}}.jsonl",
                since="{{{{ params.since }}}}", until="{{{{ params.until }}}}",
                filters={{"channel": "{{{{ params.channel }}}}"}},
            )

            @task
            def keep(manifest):
                open({str(tmp_path / "manifest.json")!r}, "w").write(__import__("json").dumps(manifest))

            keep(threads.output)
        """,
    )

    dagrun = run_dag(dags, "threads_dag")

    assert dagrun_task_states(dagrun) == {"threads": "success", "keep": "success"}
    expected = [
        r for r in expected_threads(votel_sandbox, votel_api_key, since, until) if r["channel"] == "sms"
    ]
    rows = [json.loads(line) for line in (out / "sms.jsonl").read_text().splitlines()]
    assert rows == expected
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["records"] == len(expected) > 0
    assert manifest["uri"] == f"file://{out / 'sms.jsonl'}"
