"""The outreach policy on real sends against the sandbox: opt-outs, STOP replies, the suppression
list, frequency caps across DAGs, quiet hours in each person's zone, and a deferral that sends to
each waiting person once."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.support import make_context
from votel_airflow.compat import TaskDeferred
from votel_airflow.defaults import POLICY_CLOCK_ENV
from votel_airflow.exceptions import VotelInputError, VotelQuietHoursError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.communication import SendEmailOperator, SendSmsOperator

#: 06:00 UTC on the suite's day: 23:00 in San Francisco (quiet), 08:00 in Paris (open).
NIGHT_IN_CALIFORNIA = "2026-06-15T06:00:00+00:00"
#: When 08:00 comes in San Francisco that morning.
MORNING_IN_CALIFORNIA = datetime(2026, 6, 15, 15, 0, tzinfo=timezone.utc)
A, B, C = "+14155557201", "+14155557202", "+14155557203"


def texted(admin: Any, api_key: str) -> Counter[str]:
    return Counter(record["recipient"] for record in admin.records(api_key, "sms"))


def contact(phone: str | None = None, email: str | None = None, **consent: Any) -> dict[str, Any]:
    hook = VotelHook()
    fields = {
        "first_name": "Ada",
        **({"phone": phone} if phone else {}),
        **({"email": email} if email else {}),
    }
    made = hook.request("POST", "/contacts", json=fields)
    if consent:
        made = hook.request("PATCH", f"/contacts/{made['id']}", json=consent)
    return dict(made)


def ago(days: float) -> datetime:
    # Replies are dated against the real clock, as the API dates the log: only the gap matters.
    return datetime.now(timezone.utc) - timedelta(days=days)


def test_a_contact_marked_dnd_is_not_texted_and_is_reported_opted_out(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    contact(A, dnd=True)

    summary = SendSmsOperator(task_id="sms", to=[A, B], body="Sale").execute(make_context())

    assert texted(votel_sandbox.admin, votel_api_key) == Counter([B])
    assert summary["skipped"]["opted_out"] == 1
    assert summary["skipped_recipients"]["opted_out"] == [A]
    assert (summary["requested"], summary["sent"]) == (2, 1)


def test_a_channel_in_dnd_channels_blocks_that_channel_only(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    contact(A, "ada@example.com", dnd_channels=["sms"])

    sms = SendSmsOperator(task_id="sms", to=[A], body="Sale").execute(make_context())
    email = SendEmailOperator(task_id="email", to=["Ada@example.com"], subject="Sale", text="Hi").execute(
        make_context()
    )

    assert sms["skipped"]["opted_out"] == 1
    assert sms["sent"] == 0
    assert email["sent"] == 1
    assert email["skipped"]["opted_out"] == 0


def test_the_latest_keyword_reply_decides_stop_then_start_and_start_then_stop(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    admin = votel_sandbox.admin
    admin.inject_inbound(votel_api_key, from_=A, body="STOP", at=ago(3))
    admin.inject_inbound(votel_api_key, from_=A, body=" start ", at=ago(2))
    admin.inject_inbound(votel_api_key, from_=B, body="Unstop", at=ago(3))
    admin.inject_inbound(votel_api_key, from_=B, body="  quit\n", at=ago(2))
    admin.inject_inbound(votel_api_key, from_=B, body="thanks!", at=ago(1))  # not a keyword

    summary = SendSmsOperator(task_id="sms", to=[A, B, C], body="Sale").execute(make_context())

    assert texted(admin, votel_api_key) == Counter([A, C])
    assert summary["skipped_recipients"]["opted_out"] == [B]


def test_a_stop_older_than_the_lookback_no_longer_counts(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    votel_sandbox.admin.inject_inbound(votel_api_key, from_=A, body="STOP", at=ago(10))

    inside = SendSmsOperator(task_id="inside", to=[A], body="Sale").execute(make_context())
    past = SendSmsOperator(task_id="past", to=[A], body="Sale", opt_out_lookback="9d").execute(make_context())

    assert inside["skipped"]["opted_out"] == 1
    assert past["sent"] == 1


def test_the_suppression_list_skips_its_entries(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, tmp_path: Path
) -> None:
    listed = tmp_path / "suppressed.txt"
    listed.write_text(f"# legal hold\n{B}\n")

    summary = SendSmsOperator(task_id="sms", to=[A, B], body="Sale", suppression_list=str(listed)).execute(
        make_context()
    )

    assert texted(votel_sandbox.admin, votel_api_key) == Counter([A])
    assert summary["skipped_recipients"]["suppressed"] == [B]


def test_a_bad_suppression_line_fails_before_any_request(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, tmp_path: Path
) -> None:
    listed = tmp_path / "suppressed.txt"
    listed.write_text(f"{B}\nnobody\n")
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"suppression_list=.*line 2 \('nobody'\)"):
        SendSmsOperator(task_id="sms", to=[A], body="Sale", suppression_list=str(listed)).execute(
            make_context()
        )

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_a_frequency_cap_counts_what_another_dag_sent(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    # --8<-- [start:cap]
    cap = {"max_per_recipient": (1, "24h")}
    SendSmsOperator(task_id="welcome", to=[A, B], body="Welcome", **cap).execute(make_context())
    # --8<-- [end:cap]

    # Another DAG's task, so other idempotency keys: only the cap keeps A and B from a second text.
    other = make_context(run_id="other_dag_run")
    other["ti"].dag_id = "other_dag"
    summary = SendSmsOperator(task_id="promo", to=[A, C], body="Promo", **cap).execute(other)

    assert texted(votel_sandbox.admin, votel_api_key) == Counter([A, B, C])
    assert summary["skipped_recipients"]["frequency_capped"] == [A]
    assert summary["sent"] == 1


def test_screening_reads_listings_not_one_request_per_recipient(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    recipients = [f"+1415558{n:04d}" for n in range(300)]
    votel_sandbox.admin.reset_stats()

    SendSmsOperator(task_id="sms", to=recipients, body="Sale", max_per_recipient=(3, "7d")).execute(
        make_context()
    )

    stats = votel_sandbox.admin.stats()
    # 300 sends, plus the contacts (a seeded account's few pages), the STOP replies and the sends
    # of the cap's period: a handful of reads, where one per recipient would be 300 or more.
    assert stats["requests_total"] - 300 < 15


def test_quiet_hours_follow_each_persons_zone_and_skip_reports_them(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    contact(B, timezone="Europe/Paris")

    summary = SendSmsOperator(task_id="sms", to=[A, B], body="Sale", on_quiet_hours="skip").execute(
        make_context()
    )

    assert texted(votel_sandbox.admin, votel_api_key) == Counter([B])
    assert summary["skipped_recipients"]["quiet_hours"] == [A]
    assert summary["waiting"] == 0


def test_on_quiet_hours_fail_sends_to_nobody(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    contact(B, timezone="Europe/Paris")

    with pytest.raises(VotelQuietHoursError, match=r"1 recipient\(s\) are inside their quiet hours"):
        SendSmsOperator(task_id="sms", to=[A, B], body="Sale", on_quiet_hours="fail").execute(make_context())

    assert texted(votel_sandbox.admin, votel_api_key) == Counter()


def test_a_number_with_no_known_zone_is_skipped_unless_a_default_zone_is_named(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    unplaceable = "+80012345678"  # international freephone: a possible number, in no zone
    skipped = SendSmsOperator(task_id="a", to=[unplaceable], body="Hi").execute(make_context())
    extra = {"default_timezone": "Europe/Paris"}
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_VOTEL_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps({**conn, "extra": extra}))
    sent = SendSmsOperator(task_id="b", to=[unplaceable], body="Hi").execute(make_context())

    assert skipped["skipped_recipients"]["unknown_timezone"] == [unplaceable]
    assert sent["sent"] == 1


def test_defer_sends_to_the_others_then_to_each_waiting_person_once_rechecking_opt_outs(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    paris = "+14155557204"
    contact(paris, timezone="Europe/Paris")
    operator = SendSmsOperator(task_id="sms", to=[A, B, C, paris], body="Sale")
    context = make_context()

    with pytest.raises(TaskDeferred) as info:
        operator.execute(context)
    assert info.value.trigger.moment == MORNING_IN_CALIFORNIA
    assert texted(votel_sandbox.admin, votel_api_key) == Counter([paris])

    # Overnight C replies STOP; in the morning the task resumes.
    votel_sandbox.admin.inject_inbound(votel_api_key, from_=C, body="STOP")
    monkeypatch.setenv(POLICY_CLOCK_ENV, MORNING_IN_CALIFORNIA.isoformat())
    summary = getattr(operator, info.value.method_name)(context, None)

    assert texted(votel_sandbox.admin, votel_api_key) == Counter([paris, A, B])
    assert summary["sent"] == 3
    assert summary["skipped_recipients"]["opted_out"] == [C]
    assert (summary["requested"], summary["waiting"]) == (4, 0)


QUIET_DAG = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from votel_airflow.operators.communication import SendSmsOperator

with DAG("quiet_dag", schedule=None, start_date=datetime(2026, 1, 1)):
    SendSmsOperator(
        task_id="sms", to=["+14155557201", "+14155557202", "+14155557204"], body="Sale",
        retry_delay=timedelta(0),
    )
"""


def test_a_deferred_send_resumes_in_a_dag_run_and_texts_each_waiting_person_once(
    votel_sandbox: Any,
    votel_api_key: str,
    votel_connection: str,
    airflow_db: Path,
    dags: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support import dagrun_task_states, run_dag, write_dag

    # Airflow's trigger waits on the wall clock, so the night is one the wall clock has left behind
    # (06:00 UTC two days ago: 22:00 or 23:00 in California, whatever the season), not the suite's
    # pinned day: on a clock before that day the run would wait until then.
    night = (datetime.now(timezone.utc) - timedelta(days=2)).replace(
        hour=6, minute=0, second=0, microsecond=0
    )
    monkeypatch.setenv(POLICY_CLOCK_ENV, night.isoformat())
    contact("+14155557204", timezone="Europe/Paris")
    write_dag(dags, QUIET_DAG)

    # The run defers until 08:00 in California, which has come, so the trigger fires at once; the
    # resumed task reads the waiting people back from XCom and texts them.
    dagrun = run_dag(dags, "quiet_dag")

    assert dagrun_task_states(dagrun) == {"sms": "success"}
    assert texted(votel_sandbox.admin, votel_api_key) == Counter([A, B, "+14155557204"])


def test_the_last_log_line_counts_each_skip_reason(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, capsys: pytest.CaptureFixture[str]
) -> None:
    contact(A, dnd=True)

    SendSmsOperator(task_id="sms", to=[A, B], body="Sale").execute(make_context())

    # The task logger writes through Airflow's structlog setup, to stdout in tests.
    assert (
        "skipped 1 opted_out, 0 suppressed, 0 quiet_hours, 0 frequency_capped, 0 unknown_timezone"
        in capsys.readouterr().out
    )


def test_a_retry_resumes_its_own_sends_instead_of_counting_them_against_the_cap(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    from tests.support import FakeStateStore

    store = FakeStateStore()
    operator = SendSmsOperator(task_id="sms", to=[A, B], body="Sale", max_per_recipient=(1, "24h"))
    operator.execute(make_context(state_store=store))

    retry = operator.execute(make_context(state_store=store))

    assert (retry["resumed"], retry["skipped"]["frequency_capped"]) == (2, 0)
    assert texted(votel_sandbox.admin, votel_api_key) == Counter([A, B])


def test_thread_messages_skip_contacts_by_their_flags_stop_replies_and_zone(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from votel_airflow.operators.conversations import SendMessageOperator

    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    flagged = contact(A, dnd=True)["id"]
    replied = contact(B, timezone="Europe/Paris")["id"]
    sleeping = contact(C)["id"]  # a San Francisco number: 23:00 there
    awake = contact("+14155557204", timezone="Europe/Paris")["id"]
    votel_sandbox.admin.inject_inbound(votel_api_key, from_=B, body="STOP")

    summary = SendMessageOperator(
        task_id="thread", contact_ids=[flagged, replied, sleeping, awake], channel="sms", body="Sale",
        on_quiet_hours="skip",
    ).execute(make_context())  # fmt: skip

    assert [r["contact_id"] for r in votel_sandbox.admin.records(votel_api_key, "message")] == [awake]
    assert summary["skipped_recipients"]["opted_out"] == [flagged, replied]
    assert summary["skipped_recipients"]["quiet_hours"] == [sleeping]
