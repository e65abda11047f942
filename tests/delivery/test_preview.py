"""``dry_run=True`` against the sandbox: nothing sent, one row per recipient, totals in XCom; and
``require_approval_above`` refusing a large send that no approval allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.test_screening import NIGHT_IN_CALIFORNIA, A, B, C, contact
from tests.support import make_context
from votel_airflow.compat import has_human_in_the_loop
from votel_airflow.defaults import POLICY_CLOCK_ENV
from votel_airflow.delivery.preview import sms_segments
from votel_airflow.exceptions import VotelApprovalRequiredError, VotelConfigurationError, VotelInputError
from votel_airflow.operators.communication import SendEmailOperator, SendSmsOperator
from votel_airflow.operators.conversations import SendMessageOperator

PARIS = "+33612345678"
#: The approval gate's behaviour needs the human-in-the-loop operators; on Airflow 3.0, which has
#: none, ``require_approval_above`` is refused when the DAG is parsed (pinned below on every minor).
needs_approvals = pytest.mark.skipif(not has_human_in_the_loop(), reason="approvals need Airflow 3.1+")


def posts(admin: Any) -> dict[str, int]:
    return {path: n for path, n in admin.stats()["paths"].items() if not path.startswith("GET ")}


def rows_of(path: Path) -> dict[str, dict[str, Any]]:
    return {row["recipient"]: row for row in map(json.loads, path.read_text().splitlines())}


@pytest.fixture
def night_in_california(votel_connection: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy's clock at 23:00 in California (A waits for the morning) and 08:00 in Paris, with B
    opted out and PARIS a contact in Paris."""
    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    contact(B, dnd=True)
    contact(PARIS, timezone="Europe/Paris")


def gated_send(answer: str) -> tuple[SendSmsOperator, dict[str, Any]]:
    """A send to three people above a threshold of two, and a context in which the task it names,
    ``approve``, answered ``answer``."""
    context = make_context()
    context["ti"].xcom_push("return_value", {"chosen_options": [answer], "params_input": {}})
    sms = SendSmsOperator(
        task_id="sms",
        to=[A, B, C],
        body="Hi",
        quiet_hours=None,
        require_approval_above=2,
        approved_by="approve",
    )
    return sms, context


def test_dry_run_sends_nothing_and_writes_each_persons_row(
    votel_sandbox: Any, votel_api_key: str, night_in_california: None, tmp_path: Path
) -> None:
    votel_sandbox.admin.reset_stats()
    out = tmp_path / "preview.jsonl"

    totals = SendSmsOperator(
        task_id="sms", to=[A, B, PARIS], body="Sale", results_destination=str(out), dry_run=True
    ).execute(make_context())

    assert posts(votel_sandbox.admin) == {}
    assert votel_sandbox.admin.records(votel_api_key, "sms") == []
    rows = rows_of(out)
    assert rows[B]["skip_reason"] == "opted_out"
    assert rows[A]["skip_reason"] == "quiet_hours"
    assert rows[A]["local_time"] == "2026-06-14T23:00:00-07:00 (America/Los_Angeles)"
    assert rows[A]["sends_at"] == "2026-06-15T15:00:00+00:00"
    assert rows[PARIS] | {"local_time": None} == {
        "recipient": PARIS, "channel": "sms", "subject": None, "message": "Sale",
        "local_time": None, "segments": 1, "estimated_cost": 0.01, "skip_reason": None, "sends_at": None,
    }  # fmt: skip
    assert rows[PARIS]["local_time"] == "2026-06-15T08:00:00+02:00 (Europe/Paris)"
    assert totals["preview_uri"].endswith("preview.jsonl")


def test_dry_run_totals_count_each_reason_and_the_cost(night_in_california: None) -> None:
    totals = SendSmsOperator(
        task_id="sms", to=[A, B, PARIS, PARIS, "+1415"], body="x" * 161, dry_run=True, on_invalid="skip"
    ).execute(make_context())

    assert totals["dry_run"] is True
    assert (totals["requested"], totals["duplicates"], totals["recipients"]) == (5, 1, 4)
    assert (totals["would_send"], totals["waiting"], totals["skipped_invalid"]) == (1, 1, 1)
    assert totals["skipped"] == {
        "opted_out": 1, "suppressed": 0, "quiet_hours": 0, "frequency_capped": 0, "unknown_timezone": 0
    }  # fmt: skip
    # Two people reached (one now, one after their quiet hours), two segments each at 0.01.
    assert (totals["segments"], totals["estimated_cost"]) == (4, 0.04)


def test_long_and_unicode_messages_count_segments_as_carriers_bill_them() -> None:
    assert [sms_segments("a" * n) for n in (160, 161, 306, 307)] == [1, 2, 2, 3]
    # An extension character takes two septets.
    assert [sms_segments("€" * 80), sms_segments("€" * 81)] == [1, 2]
    # One character outside GSM-7 makes the whole message UCS-2: 70, then 67 per part.
    assert [sms_segments("é" + "ü" * 69), sms_segments("ł" * 70), sms_segments("ł" * 71)] == [1, 1, 2]
    assert sms_segments("😀" * 35) == 1  # two UTF-16 code units each
    assert sms_segments("😀" * 36) == 2


def test_dry_run_prices_a_unicode_message_by_its_ucs2_segments(
    night_in_california: None, tmp_path: Path
) -> None:
    out = tmp_path / "preview.jsonl"

    totals = SendSmsOperator(
        task_id="sms", to=[PARIS], body="Soldes ✨ " * 10, results_destination=str(out), dry_run=True
    ).execute(make_context())

    assert (rows_of(out)[PARIS]["segments"], totals["segments"], totals["estimated_cost"]) == (2, 2, 0.02)


def test_dry_run_without_destination_logs_a_capped_table(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = [f"+3361234{n:04d}" for n in range(60)]

    totals = SendSmsOperator(task_id="sms", to=numbers, body="Hi", dry_run=True, quiet_hours=None).execute(
        make_context()
    )

    # The task logger writes through Airflow's structlog setup, to stdout in tests.
    out = capsys.readouterr().out
    assert totals["would_send"] == 60
    assert "... and 10 more row(s)" in out
    assert numbers[49] in out
    assert numbers[50] not in out


def test_dry_run_writes_email_and_thread_message_rows_and_parquet(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    made = contact(PARIS, "ada@example.com", timezone="Europe/Paris")
    email = SendEmailOperator(
        task_id="email", to=["ada@example.com"], subject="Hello", text="Body", dry_run=True,
        results_destination=str(tmp_path / "email.parquet"),
    ).execute(make_context())  # fmt: skip
    message = SendMessageOperator(
        task_id="msg", contact_ids=[made["id"]], channel="whatsapp", body="Hi", dry_run=True, quiet_hours=None
    ).execute(make_context())

    table = pq.read_table(tmp_path / "email.parquet").to_pylist()
    assert [(r["subject"], r["message"], r["estimated_cost"]) for r in table] == [("Hello", "Body", 0.001)]
    assert table[0]["local_time"].endswith("(Europe/Paris)")
    assert (email["would_send"], message["would_send"], message["estimated_cost"]) == (1, 1, 0.005)
    assert votel_sandbox.admin.records(votel_api_key, "email") == []
    assert votel_sandbox.admin.records(votel_api_key, "message") == []


@needs_approvals
def test_require_approval_above_refuses_a_large_send_without_approval(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    sms = SendSmsOperator(task_id="sms", to=[A, B, C], body="Hi", quiet_hours=None, require_approval_above=2)

    with pytest.raises(VotelApprovalRequiredError, match=r"3 people would be reached, more than "):
        sms.execute(make_context())

    assert votel_sandbox.admin.records(votel_api_key, "sms") == []


@needs_approvals
def test_require_approval_above_sends_once_the_named_approval_approved(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    sms, context = gated_send("Approve")

    assert sms.execute(context)["sent"] == 3


@needs_approvals
def test_require_approval_above_refuses_a_rejected_approval(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    sms, context = gated_send("Reject")

    with pytest.raises(VotelApprovalRequiredError, match=r"'approve' gave \['Reject'\]"):
        sms.execute(context)
    assert votel_sandbox.admin.records(votel_api_key, "sms") == []


@needs_approvals
def test_a_send_within_the_threshold_needs_no_approval(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    sms = SendSmsOperator(task_id="sms", to=[A, B], body="Hi", quiet_hours=None, require_approval_above=2)

    assert sms.execute(make_context())["sent"] == 2


@pytest.mark.parametrize("bad", [-1, 2.5, "10", True])
def test_a_bad_approval_threshold_is_named(bad: Any) -> None:
    with pytest.raises(VotelInputError, match=r"require_approval_above=.*whole number of recipients"):
        SendSmsOperator(task_id="sms", to=[A], body="Hi", require_approval_above=bad)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_dry_run_of_the_wrong_type_is_named(bad: Any) -> None:
    with pytest.raises(VotelInputError, match=r"dry_run=.*must be True or False"):
        SendSmsOperator(task_id="sms", to=[A], body="Hi", dry_run=bad)


def test_require_approval_above_on_airflow_3_0_fails_when_the_dag_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from votel_airflow import compat

    monkeypatch.setattr(compat, "airflow_version", lambda: "3.0.6")

    with pytest.raises(
        VotelConfigurationError, match=r"require_approval_above=10: needs Airflow 3.1 .* 3\.0\.6"
    ):
        SendSmsOperator(task_id="sms", to=[A], body="Hi", require_approval_above=10)


def test_a_secret_the_task_knows_is_masked_in_the_preview_rows(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, tmp_path: Path
) -> None:
    from votel_airflow.compat import mask_secret

    mask_secret("pw-8d1f0c2e77")
    out = tmp_path / "preview.jsonl"

    SendSmsOperator(
        task_id="sms", to=[PARIS], body="Your code pw-8d1f0c2e77", results_destination=str(out),
        dry_run=True, quiet_hours=None,
    ).execute(make_context())  # fmt: skip

    assert "pw-8d1f0c2e77" not in out.read_text()
    assert rows_of(out)[PARIS]["message"] == "Your code ***"
