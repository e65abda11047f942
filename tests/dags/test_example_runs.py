"""Each example DAG run with ``dag.test()`` against the sandbox: what reached people, files, rows."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.dags.conftest import EXAMPLES
from tests.support import (
    SANDBOX_TODAY,
    FakeTaskInstance,
    dagrun_task_states,
    make_context,
    run_dag,
    task_result,
)
from votel_airflow import endpoints
from votel_airflow.delivery.idempotency import idempotency_key
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.usefixtures("airflow_db")


def _succeeded(dagrun: Any) -> dict[str, str]:
    states = dagrun_task_states(dagrun)
    assert str(dagrun.state) == "success", states
    return states


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _recent_day() -> pendulum.DateTime:
    """Midnight two days before the sandbox's today: its whole day lies in the seeded week."""
    return SANDBOX_TODAY.subtract(days=2)


def _table(warehouse: Path) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(warehouse)) as db:
        return db.execute("SELECT * FROM votel_call_logs ORDER BY id").fetchall()


def test_nightly_sync_extracts_the_interval_upserts_leads_and_loads_the_table_idempotently(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str, warehouse: Path, tmp_path: Path
) -> None:
    until = _recent_day()
    since = until.subtract(days=1)
    conf = {"data_dir": str(tmp_path / "data")}
    _succeeded(run_dag(EXAMPLES, "votel_nightly_crm_sync", logical_date=until, run_conf=conf))

    day = since.strftime("%Y-%m-%d")
    window = {"since": since.isoformat(), "until": until.isoformat()}
    hook = VotelHook(votel_connection)
    calls = _jsonl(tmp_path / "data" / "call_logs" / f"{day}.jsonl")
    assert [c["id"] for c in calls] == [c["id"] for c in hook.paginate(endpoints.CALL_LOGS, params=window)]
    assert calls, "the seeded recent week has calls every day"
    meetings = _jsonl(tmp_path / "data" / "meeting_logs" / f"{day}.jsonl")
    assert len(meetings) == len(list(hook.paginate(endpoints.MEETING_LOGS, params=window)))
    messages = _jsonl(tmp_path / "data" / "messaging_logs" / f"{day}.jsonl")
    assert len(messages) == len(list(hook.paginate(endpoints.MESSAGING_LOGS, params=window)))

    leads = _jsonl(EXAMPLES / "data" / "leads.jsonl")
    contacts = _jsonl(tmp_path / "data" / "contacts" / f"{day}.jsonl")
    exported_phones = {c["phone"] for c in contacts}
    assert {lead["phone"] for lead in leads} <= exported_phones
    assert len(contacts) == len(list(hook.paginate(endpoints.CONTACTS)))

    rows = _table(warehouse)
    assert sorted(r[0] for r in rows) == sorted(c["id"] for c in calls)
    assert {r[1] for r in rows} == {since.isoformat()}

    # A rerun (a clear or a backfill) of the same interval leaves exactly the same table.
    _succeeded(run_dag(EXAMPLES, "votel_nightly_crm_sync", logical_date=until, run_conf=conf))
    assert _table(warehouse) == rows
    # Leads were updated, not created twice.
    assert len(list(hook.paginate(endpoints.CONTACTS))) == len(contacts)


def _add_contacts(hook: VotelHook, tag: str, phones: list[str]) -> dict[str, str]:
    ids = {}
    for number, phone in enumerate(phones):
        contact = hook.request(
            "POST", endpoints.CONTACTS, json={"first_name": f"Test{number}", "phone": phone, "tags": [tag]}
        )
        ids[phone] = contact["id"]
    return ids


def test_outreach_campaign_texts_and_enrolls_each_tagged_contact_once_and_follows_up_bounces(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    hook = VotelHook(votel_connection)
    # Ending 13: undelivered; 66: failed; anything else: delivered. Under half bounce, so the
    # delivery wait (max_failed=0.5) passes and each bounce gets a follow-up task.
    ids = _add_contacts(
        hook, "spring-test", ["+12025550413", "+12025550466", "+12025550421", "+12025550432", "+12025550445"]
    )
    _succeeded(run_dag(EXAMPLES, "votel_outreach_campaign", run_conf={"tag": "spring-test"}))

    admin = votel_sandbox.admin
    messages = admin.records(votel_api_key, "message")
    assert sorted(m["recipient"] for m in messages) == sorted(ids)
    links = list(hook.paginate(endpoints.TRACKING_LINKS))
    short_url = next(link["short_url"] for link in links if link["name"] == "Spring promotion")
    assert all(short_url in m["body"] for m in messages)
    enrollments = admin.records(votel_api_key, "enrollment")
    assert sorted(e.get("contact_id") or e["recipient"] for e in enrollments) == sorted(ids.values())
    tasks = admin.records(votel_api_key, "task")
    assert sorted(t["contact_id"] for t in tasks) == sorted([ids["+12025550413"], ids["+12025550466"]])


def test_outreach_campaign_keeps_out_opted_out_contacts_and_those_in_their_quiet_hours(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    hook = VotelHook(votel_connection)
    # The suite's clock: 14:00 in Washington, 03:00 the next day in Tokyo.
    ids = _add_contacts(
        hook, "spring-test", ["+12025550421", "+12025550432", "+12025550445", "+819012345678"]
    )
    no_contact = ids["+12025550432"]
    no_texts = ids["+12025550445"]
    asleep = ids["+819012345678"]
    hook.request("PATCH", f"{endpoints.CONTACTS}/{no_contact}", json={"dnd": True})
    hook.request("PATCH", f"{endpoints.CONTACTS}/{no_texts}", json={"dnd_channels": ["sms"]})

    dagrun = run_dag(EXAMPLES, "votel_outreach_campaign", run_conf={"tag": "spring-test"})
    _succeeded(dagrun)

    admin = votel_sandbox.admin
    assert [m["recipient"] for m in admin.records(votel_api_key, "message")] == ["+12025550421"]
    enrolled = sorted(e["contact_id"] for e in admin.records(votel_api_key, "enrollment"))
    assert enrolled == sorted([ids["+12025550421"], asleep])
    sent = task_result_of_map(dagrun, "send_sms")
    assert sent["skipped"]["opted_out"] == 2
    assert sent["skipped_recipients"]["quiet_hours"] == [asleep]
    enrollment = task_result_of_map(dagrun, "enroll_in_workflow")
    assert sorted(enrollment["skipped_recipients"]["opted_out"]) == sorted([no_contact, no_texts])


def task_result_of_map(dagrun: Any, task_id: str) -> Any:
    """The ``return_value`` of the one mapped instance of ``task_id`` (a single batch)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        (row,) = (
            session.query(XComModel)
            .filter_by(dag_id=dagrun.dag_id, run_id=dagrun.run_id, task_id=task_id, key="return_value")
            .all()
        )
        return XComModel.deserialize_value(row)


# --8<-- [start:wallet_too_low_test]
def test_outreach_campaign_sends_nothing_when_the_wallet_is_too_low(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    hook = VotelHook(votel_connection)
    _add_contacts(hook, "spring-test", ["+12025550521"])
    votel_sandbox.admin.set_wallet(votel_api_key, 0.0)
    states = dagrun_task_states(run_dag(EXAMPLES, "votel_outreach_campaign", run_conf={"tag": "spring-test"}))
    assert states["check_wallet"] == "skipped"
    assert votel_sandbox.admin.records(votel_api_key, "message") == []
    assert votel_sandbox.admin.records(votel_api_key, "enrollment") == []
    # --8<-- [end:wallet_too_low_test]


# --8<-- [start:call_followup_test]
def test_call_followup_books_and_confirms_booked_calls_texts_missed_ones_and_saves_every_log(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str, tmp_path: Path
) -> None:
    _succeeded(run_dag(EXAMPLES, "votel_call_followup", run_conf={"data_dir": str(tmp_path)}))

    admin = votel_sandbox.admin
    calls = admin.records(votel_api_key, "call")
    # The default list: ...01 books, ...10 is not answered, ...24 asks for a call back.
    assert sorted(c["recipient"] for c in calls) == ["+12025550201", "+12025550210", "+12025550224"]
    assert [e["recipient"] for e in admin.records(votel_api_key, "email")] == ["ada@example.com"]
    assert [s["recipient"] for s in admin.records(votel_api_key, "sms")] == ["+12025550210"]
    bookings = admin.records(votel_api_key, "booking")
    ada = next(c for c in calls if c["recipient"] == "+12025550201")
    assert [b["contact_id"] for b in bookings] == [ada["contact_id"]]
    logs = [json.loads(p.read_text()) for p in tmp_path.glob("call_followup/*/*.json")]
    assert sorted(log["id"] for log in logs) == sorted(c["id"] for c in calls)
    assert all(log["status"] in ("completed", "no_answer") for log in logs)
    # --8<-- [end:call_followup_test]


def test_agent_release_syncs_the_repo_documents_deploys_a_version_and_places_one_test_call(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    _succeeded(run_dag(EXAMPLES, "votel_agent_release"))
    hook = VotelHook(votel_connection)
    agent = next(a for a in hook.paginate(endpoints.AGENTS) if a["name"] == "Support Line")
    documents = list(hook.paginate(endpoints.path(endpoints.AGENT_KB_DOCUMENTS, agent_id=agent["id"])))
    expected = {p.name: p.read_text() for p in (EXAMPLES / "knowledge_base").glob("*.md")}
    assert {d["title"]: d.get("text") for d in documents} == expected
    versions = list(hook.paginate(endpoints.path(endpoints.AGENT_VERSIONS, agent_id=agent["id"])))
    assert [v["deployed"] for v in versions].count(True) == 1
    calls = votel_sandbox.admin.records(votel_api_key, "call")
    assert [(c["recipient"], c["agent_id"]) for c in calls] == [("+12025550301", agent["id"])]

    # A second release with the same documents adds none.
    _succeeded(run_dag(EXAMPLES, "votel_agent_release"))
    again = list(hook.paginate(endpoints.path(endpoints.AGENT_KB_DOCUMENTS, agent_id=agent["id"])))
    assert sorted(d["id"] for d in again) == sorted(d["id"] for d in documents)


def test_click_report_counts_each_links_clicks_and_conversions_of_the_day(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str, tmp_path: Path
) -> None:
    logical = _recent_day()
    _succeeded(
        run_dag(EXAMPLES, "votel_click_report", logical_date=logical, run_conf={"data_dir": str(tmp_path)})
    )

    reports = list((tmp_path / "click_report").glob("*.csv"))
    assert len(reports) == 1
    with reports[0].open() as stream:
        report = {row["link_id"]: row for row in csv.DictReader(stream)}
    hook = VotelHook(votel_connection)
    links = list(hook.paginate(endpoints.TRACKING_LINKS))
    # The report is named after its interval's first day; the interval runs 00:30 to 00:30 UTC.
    since = pendulum.parse(reports[0].stem, tz="UTC").add(minutes=30)
    window = {"since": since.isoformat(), "until": since.add(days=1).isoformat()}
    assert {row["day"] for row in report.values()} == {reports[0].stem}
    conversions = Counter(c["link_id"] for c in hook.paginate(endpoints.CONVERSIONS, params=window))
    assert set(report) == {link["id"] for link in links}
    for link in links:
        path = endpoints.path(endpoints.TRACKING_LINK_CLICKS, link_id=link["id"])
        assert int(report[link["id"]]["clicks"]) == len(list(hook.paginate(path, params=window)))
        assert int(report[link["id"]]["conversions"]) == conversions[link["id"]]
        assert report[link["id"]]["link_name"] == link["name"]
    assert sum(int(r["clicks"]) for r in report.values()) > 0


def test_emergency_stop_pauses_every_running_campaign_and_cancels_the_agents_calls_in_flight(
    slow_votel_connection: str, slow_votel_sandbox: SandboxServer, slow_votel_key: str
) -> None:
    hook = VotelHook(slow_votel_connection)
    first, second = (c["id"] for c in hook.get(endpoints.CAMPAIGNS)[:2])
    hook.request("POST", endpoints.path(endpoints.CAMPAIGN_START, campaign_id=first))
    agents = hook.get(endpoints.AGENTS)[:2]
    (agent, agent_name), other_agent = (agents[0]["id"], agents[0]["name"]), agents[1]["id"]
    calls = {
        to: hook.request("POST", endpoints.path(endpoints.AGENT_CALLS, agent_id=who), json={"to": to})["id"]
        for to, who in (("+12025550701", agent), ("+12025550702", agent), ("+12025550703", other_agent))
    }

    _succeeded(run_dag(EXAMPLES, "votel_emergency_stop", run_conf={"agent_name": agent_name}))

    def status(template: str, **ids: str) -> str:
        return str(hook.get(endpoints.path(template, **ids))["status"])

    assert status(endpoints.CAMPAIGN, campaign_id=first) == "paused"
    assert status(endpoints.CAMPAIGN, campaign_id=second) == "draft"  # never started: left alone
    assert {to: status(endpoints.CALL, call_id=i) for to, i in calls.items()} == {
        "+12025550701": "canceled",
        "+12025550702": "canceled",
        "+12025550703": "queued",  # another agent's call
    }
    # Pulling the switch again stops nothing more and still succeeds.
    _succeeded(run_dag(EXAMPLES, "votel_emergency_stop", run_conf={"agent_name": agent_name}))
    assert len(slow_votel_sandbox.admin.records(slow_votel_key, "call_cancel")) == 2


def test_taskflow_outreach_texts_and_enrolls_each_caller_once_even_when_the_send_task_is_retried(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    # Its callers are last week's: end the week at the sandbox's today, where the calls are seeded.
    dagrun = run_dag(
        EXAMPLES, "votel_taskflow_outreach", logical_date=SANDBOX_TODAY, run_conf={"fail_after_sending": True}
    )

    _succeeded(dagrun)
    texted = task_result(dagrun, "text_callers")
    assert texted["try_number"] == 2, "the first try failed after sending, as asked"
    callers = task_result(dagrun, "last_weeks_callers")
    assert len(callers) == 3
    sms = votel_sandbox.admin.records(votel_api_key, "sms")
    # Two tries sent to every caller; the second got the first's answers back: one text each.
    assert sorted(r["recipient"] for r in sms) == sorted(c["phone"] for c in callers)
    assert texted["message_ids"] == {r["recipient"]: r["id"] for r in sms}
    # Each key is the one SendSmsOperator derives for that number in that task instance.
    ti = FakeTaskInstance(dag_id=dagrun.dag_id, task_id="text_callers", run_id=dagrun.run_id)
    expected = {idempotency_key(make_context(ti=ti), "sms", r["recipient"]) for r in sms}
    assert {r["idempotency_key"] for r in sms} == expected
    enrolled = votel_sandbox.admin.records(votel_api_key, "enrollment")
    assert sorted(r["contact_id"] for r in enrolled) == sorted(c["id"] for c in callers)
    workflow = VotelHook(votel_connection).find_workflow("Missed call follow-up")
    assert task_result(dagrun, "find_workflow") == workflow["id"]


def test_reply_followup_opts_a_stop_reply_out_and_gives_another_reply_one_task(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    # dag.test() delivers no asset event: the run gets the replies (real rows) through its param.
    hook = VotelHook(votel_connection)
    stopper, asker = (
        hook.request("POST", endpoints.CONTACTS, json={"first_name": name, "phone": phone, **consent})["id"]
        for name, phone, consent in (
            ("Stop", "+12025550301", {"dnd_channels": ["email"]}),
            ("Ask", "+12025550302", {}),
        )
    )
    votel_sandbox.admin.inject_inbound(votel_api_key, stopper, "  stop ")
    votel_sandbox.admin.inject_inbound(votel_api_key, asker, "Can you call me tomorrow?")
    replies = [
        row
        for contact in (stopper, asker)
        for row in hook.paginate(
            endpoints.MESSAGING_LOGS, params={"direction": "inbound", "contact_id": contact}
        )
    ]

    states = _succeeded(run_dag(EXAMPLES, "votel_reply_followup", run_conf={"replies": replies}))

    assert states["opt_out[0]"] == "success"
    assert sorted(hook.get_contact(stopper)["dnd_channels"]) == ["email", "sms"]
    assert hook.get_contact(asker)["dnd_channels"] == []
    made = {(t.get("custom_fields") or {}).get("votel_reply_id"): t for t in hook.paginate(endpoints.TASKS)}
    assert made[replies[1]["id"]]["contact_id"] == asker
    assert "Can you call me tomorrow?" in made[replies[1]["id"]]["title"]
    assert replies[0]["id"] not in made
