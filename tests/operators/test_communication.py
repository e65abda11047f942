"""SMS and e-mail operators against the sandbox over HTTP, directly and inside ``dag.test()``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import FakeStateStore, dagrun_task_states, link_of, make_context, run_dag, write_dag
from votel_airflow import endpoints
from votel_airflow.exceptions import VotelInputError, VotelPaymentRequiredError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.communication import (
    CreateEmailTemplateOperator,
    SendEmailOperator,
    SendSmsOperator,
)


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+1415556{n:04d}" for n in range(start, start + count)]


def per_recipient(admin: Any, api_key: str, kind: str = "sms") -> Counter[str]:
    return Counter(record["recipient"] for record in admin.records(api_key, kind))


@pytest.fixture
def faults(votel_sandbox: Any) -> Iterator[Any]:
    yield votel_sandbox.admin
    votel_sandbox.admin.clear_faults()


def test_a_thousand_recipients_are_each_texted_exactly_once_through_500s_drops_and_429s(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, faults: Any
) -> None:
    targets = numbers(1000)
    faults.set_faults(error_rate=0.05, drop_rate=0.01, burst_429=20, fault_seed=7)

    summary = SendSmsOperator(task_id="sms", to=targets, body="Spring sale", max_concurrency=16).execute(
        make_context()
    )

    stats = votel_sandbox.admin.stats()
    assert per_recipient(votel_sandbox.admin, votel_api_key) == Counter(targets)
    assert summary["sent"] == 1000
    assert len(set(summary["message_ids"])) == 1000
    # The faults really happened, so the count above proves the retries were safe.
    assert stats["by_status"].get("429", 0) >= 20
    assert stats["by_status"].get("500", 0) > 0


def test_executing_twice_with_the_same_context_sends_nothing_the_second_time(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    context = make_context()
    operator = SendSmsOperator(task_id="sms", to=numbers(20), body="Hi")
    first = operator.execute(context)
    records_before = votel_sandbox.admin.records(votel_api_key, "sms")

    second = operator.execute(context)

    assert votel_sandbox.admin.records(votel_api_key, "sms") == records_before
    assert second["message_ids"] == first["message_ids"]


def test_a_retry_with_the_task_state_store_resumes_every_recipient(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    store = FakeStateStore()
    operator = SendSmsOperator(task_id="sms", to=numbers(25), body="Hi")
    operator.execute(make_context(state_store=store))
    votel_sandbox.admin.reset_stats()

    summary = operator.execute(make_context(state_store=store))

    assert (summary["resumed"], summary["sent"]) == (25, 0)
    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_one_invalid_number_fails_listing_every_invalid_number_and_sends_nothing(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    votel_sandbox.admin.reset_stats()
    operator = SendSmsOperator(task_id="sms", to=[*numbers(3), "4155550100", "+0123", "call me"], body="Hi")

    with pytest.raises(VotelInputError) as info:
        operator.execute(make_context())

    assert info.value.field == "to"
    for bad in ("4155550100", "+0123", "call me"):
        assert bad in str(info.value)
    assert votel_sandbox.admin.stats()["requests_total"] == 0
    assert votel_sandbox.admin.records(votel_api_key, "sms") == []


def test_a_number_no_numbering_plan_allows_is_refused_before_any_send(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    # E.164 in form (the pattern lets it through), one digit short for +1.
    votel_sandbox.admin.reset_stats()
    operator = SendSmsOperator(task_id="sms", to=[*numbers(2), "+1415556000"], body="Hi")

    with pytest.raises(VotelInputError) as info:
        operator.execute(make_context())

    assert info.value.field == "to"
    assert "1 of 3 numbers are invalid: ['+1415556000']" in str(info.value)
    assert votel_sandbox.admin.stats()["requests_total"] == 0
    assert votel_sandbox.admin.records(votel_api_key, "sms") == []

    summary = SendSmsOperator(
        task_id="sms", to=[*numbers(2), "+1415556000"], body="Hi", on_invalid="skip"
    ).execute(make_context())
    assert summary["invalid"] == ["+1415556000"]
    assert per_recipient(votel_sandbox.admin, votel_api_key) == Counter(numbers(2))


def test_skip_sends_to_the_valid_numbers_and_lists_the_invalid_ones(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    valid = numbers(3)

    summary = SendSmsOperator(task_id="sms", to=[*valid, "555-0100"], body="Hi", on_invalid="skip").execute(
        make_context()
    )

    assert per_recipient(votel_sandbox.admin, votel_api_key) == Counter(valid)
    assert (summary["requested"], summary["sent"], summary["skipped_invalid"]) == (4, 3, 1)
    assert summary["invalid"] == ["555-0100"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"body": ""}, "body"),
        ({"body": "x" * 1601}, "body"),
        ({"from_number": "0800"}, "from_number"),
        ({"from_number": "+99912345678"}, "from_number"),
        ({"to": 4155550100}, "to"),
    ],
)
def test_a_bad_body_or_sender_fails_before_any_request(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, kwargs: dict[str, Any], field: str
) -> None:
    votel_sandbox.admin.reset_stats()
    arguments = {"to": numbers(2), "body": "Hi", **kwargs}

    with pytest.raises(VotelInputError) as info:
        SendSmsOperator(task_id="sms", **arguments).execute(make_context())

    assert info.value.field == field
    assert votel_sandbox.admin.stats()["requests_total"] == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"on_invalid": "ignore"}, "on_invalid"),
        ({"max_concurrency": 100}, "max_concurrency"),
        ({"rate_limit": 0}, "rate_limit"),
    ],
)
def test_bad_static_arguments_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(VotelInputError) as info:
        SendSmsOperator(task_id="sms", to="+14155550100", body="Hi", **kwargs)
    assert info.value.field == field


def test_sms_from_number_is_sent_as_from(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    summary = SendSmsOperator(
        task_id="sms", to="+14155550111", body="Hi", from_number="+14155550199"
    ).execute(make_context())

    message = VotelHook().get(endpoints.path(endpoints.MESSAGE, message_id=summary["message_ids"][0]))
    assert message["from"] == "+14155550199"


def test_a_402_stops_the_operator_with_the_count_sent(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    votel_sandbox.admin.set_wallet(votel_api_key, 0.05)

    with pytest.raises(VotelPaymentRequiredError, match="5 of 30 sent before the wallet ran out"):
        SendSmsOperator(task_id="sms", to=numbers(30), body="Hi", max_concurrency=2).execute(make_context())

    assert len(votel_sandbox.admin.records(votel_api_key, "sms")) == 5


def test_a_single_recipient_send_links_to_its_message(votel_sandbox: Any, votel_connection: str) -> None:
    operator = SendSmsOperator(task_id="sms", to="+14155550123", body="Hi")

    summary = operator.execute(make_context(task=operator))

    link = link_of(operator)
    assert link.endswith(f"/conversations/messages/{summary['message_ids'][0]}")
    assert not link.endswith("/api" + f"/conversations/messages/{summary['message_ids'][0]}")


def test_a_bulk_send_sets_no_link(votel_connection: str) -> None:
    operator = SendSmsOperator(task_id="sms", to=numbers(2), body="Hi")

    operator.execute(make_context(task=operator))

    assert link_of(operator) == ""


def test_email_is_sent_once_per_address_with_subject_and_text(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    addresses = ["ada@example.com", "grace@example.com"]

    summary = SendEmailOperator(task_id="mail", to=addresses, subject="News", text="Hello").execute(
        make_context()
    )

    records = votel_sandbox.admin.records(votel_api_key, "email")
    assert sorted(r["recipient"] for r in records) == addresses
    assert summary["sent"] == 2


def test_email_with_an_invalid_address_sends_nothing(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    with pytest.raises(VotelInputError, match="not-an-address"):
        SendEmailOperator(
            task_id="mail", to=["ada@example.com", "not-an-address"], subject="News", text="Hello"
        ).execute(make_context())

    assert votel_sandbox.admin.records(votel_api_key, "email") == []


def test_email_without_content_fails_before_any_request(votel_connection: str) -> None:
    with pytest.raises(VotelInputError) as info:
        SendEmailOperator(task_id="mail", to="ada@example.com", subject="News").execute(make_context())
    assert info.value.field == "text"


def test_email_template_is_created_once_and_reused_by_name(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    def create() -> str:
        return CreateEmailTemplateOperator(
            task_id="template",
            name="welcome-v1",
            subject="Welcome {{first_name}}",
            html="<p>Hi {{first_name}}</p>",
        ).execute(make_context())

    first, second = create(), create()

    assert first == second
    named = [t for t in VotelHook().paginate(endpoints.EMAIL_TEMPLATES) if t["name"] == "welcome-v1"]
    assert [t["id"] for t in named] == [first]


def test_email_from_a_template_renders_its_variables(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    template_id = CreateEmailTemplateOperator(
        task_id="template", name="welcome-v2", subject="Welcome", html="<p>Hi {{first_name}}</p>"
    ).execute(make_context())

    SendEmailOperator(
        task_id="mail",
        to="ada@example.com",
        subject="Welcome",
        template_id=template_id,
        variables={"first_name": "Ada"},
    ).execute(make_context())

    (record,) = votel_sandbox.admin.records(votel_api_key, "email")
    assert record["body"] == "<p>Hi Ada</p>"


DAG_SOURCE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from votel_airflow.operators.communication import SendSmsOperator

with DAG("sms_dag", schedule=None, start_date=datetime(2026, 1, 1),
         default_args={"retries": 1, "retry_delay": timedelta(0)}):

    @task
    def pick() -> list[str]:
        return ["+14155557001", "+14155557002"]

    picked = pick()
    SendSmsOperator(task_id="from_xcom", to=picked, body="Run {{ dag_run.run_id[:6] }} on {{ ds }}")
    SendSmsOperator.partial(task_id="mapped", body="Mapped {{ ti.map_index }}").expand(
        to=["+14155557101", "+14155557102", "+14155557103"]
    )
"""


def test_xcomarg_and_expand_inputs_send_with_rendered_bodies_in_a_dag_run(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, airflow_db: Path, dags: Path
) -> None:
    write_dag(dags, DAG_SOURCE)

    dagrun = run_dag(dags, "sms_dag")

    states = dagrun_task_states(dagrun)
    assert set(states.values()) == {"success"}, states
    bodies = {r["recipient"]: r["body"] for r in votel_sandbox.admin.records(votel_api_key, "sms")}
    assert set(bodies) == {"+14155557001", "+14155557002", "+14155557101", "+14155557102", "+14155557103"}
    assert bodies["+14155557001"].startswith("Run manual")
    assert "{{" not in bodies["+14155557001"]
    assert sorted(bodies[n] for n in ("+14155557101", "+14155557102", "+14155557103")) == [
        "Mapped 0",
        "Mapped 1",
        "Mapped 2",
    ]
