"""``server_idempotency: false`` where Airflow has no task state store (3.0 to 3.2).

On such a server the record written before each request (*pending*) is all that keeps a retried
task from reaching someone again, so it must survive the try. Airflow 3.3 keeps it in the task
state store; before 3.3 only the files beside ``results_destination`` can. These tests emulate an
Airflow without the store the way the compat suite does: a context without ``task_state_store``.
Each side effect then either keeps its write-ahead in files, or refuses before its first request,
naming what to set.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support import FakeTaskInstance, arm_faults_after_screening, make_context
from votel_airflow import endpoints
from votel_airflow.delivery.engine import UNKNOWN_EARLIER
from votel_airflow.exceptions import VotelConfigurationError, VotelError, VotelPaymentRequiredError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.agents import StartCallOperator
from votel_airflow.operators.communication import SendSmsOperator
from votel_airflow.operators.workflows import EnrollContactOperator
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow

#: The issue's reproduction: the wallet runs out after 20 of 60 SMS.
RECIPIENTS = 60
AFFORDABLE = 20
SMS_PRICE = 0.01


def numbers(count: int) -> list[str]:
    return [f"+1415777{n:04d}" for n in range(count)]


def texts_per_number(server: SandboxServer, key: str) -> Counter[str]:
    return Counter(record["recipient"] for record in server.admin.records(key, "sms"))


def posts(server: SandboxServer) -> int:
    return sum(count for label, count in server.admin.stats()["paths"].items() if label.startswith("POST "))


def try_context(number: int) -> dict[str, Any]:
    """The context of try ``number`` of one task instance, on an Airflow without a state store."""
    return make_context(ti=FakeTaskInstance(try_number=number))


def test_a_402_after_20_of_60_then_a_retry_texts_nobody_twice(
    careless_server: SandboxServer, account: Any, tmp_path: Path
) -> None:
    key = account(server_idempotency=False)
    careless_server.admin.set_wallet(key, AFFORDABLE * SMS_PRICE)
    results = tmp_path / "out" / "sms.json"

    def task() -> SendSmsOperator:
        return SendSmsOperator(
            task_id="text", to=numbers(RECIPIENTS), body="Doors open at 9", max_concurrency=4,
            results_destination=str(results),
        )  # fmt: skip

    with pytest.raises(VotelPaymentRequiredError):
        task().execute(try_context(1))
    assert sum(texts_per_number(careless_server, key).values()) == AFFORDABLE
    careless_server.admin.set_wallet(key, 100.0)

    summary = task().execute(try_context(2))

    assert texts_per_number(careless_server, key) == Counter(numbers(RECIPIENTS))
    assert (summary["resumed"], summary["sent"]) == (AFFORDABLE, RECIPIENTS - AFFORDABLE)


def test_without_results_destination_the_send_refuses_before_any_request(
    careless_server: SandboxServer, account: Any
) -> None:
    key = account(server_idempotency=False)
    careless_server.admin.reset_stats()

    with pytest.raises(VotelConfigurationError, match=r"server_idempotency=false.*Set results_destination"):
        SendSmsOperator(task_id="text", to=numbers(3), body="hi").execute(try_context(1))

    assert posts(careless_server) == 0
    assert texts_per_number(careless_server, key) == Counter()


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_without_results_destination_a_call_refuses_before_ringing(
    careless_server: SandboxServer, account: Any
) -> None:
    account(server_idempotency=False)
    agent = str(VotelHook().get(endpoints.AGENTS)[0]["id"])
    careless_server.admin.reset_stats()

    with pytest.raises(VotelConfigurationError, match="Set results_destination"):
        StartCallOperator(task_id="call", agent_id=agent, to="+14157779999").execute(try_context(1))

    assert posts(careless_server) == 0


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_with_results_destination_a_retried_call_re_reads_the_call_instead_of_ringing_again(
    careless_server: SandboxServer, account: Any, tmp_path: Path
) -> None:
    key = account(server_idempotency=False)
    agent = str(VotelHook().get(endpoints.AGENTS)[0]["id"])

    def task() -> StartCallOperator:
        return StartCallOperator(
            task_id="call", agent_id=agent, to="+14157779999", results_destination=str(tmp_path / "call.json")
        )

    first = task().execute(try_context(1))
    second = task().execute(try_context(2))

    assert second["id"] == first["id"]
    rung = [r for r in careless_server.admin.records(key, "call") if r["recipient"] == "+14157779999"]
    assert len(rung) == 1


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_without_results_destination_an_enrollment_refuses_before_any_request(
    careless_server: SandboxServer, account: Any
) -> None:
    key = account(server_idempotency=False)
    hook = VotelHook()
    workflow_id = str(hook.get(endpoints.WORKFLOWS)[0]["id"])
    contact_ids = sorted(str(c["id"]) for c in hook.paginate(endpoints.CONTACTS))[:4]
    before = len(careless_server.admin.records(key, "enrollment"))
    careless_server.admin.reset_stats()

    with pytest.raises(VotelConfigurationError, match="Set results_destination"):
        EnrollContactOperator(task_id="enroll", workflow_id=workflow_id, contact_ids=contact_ids).execute(
            try_context(1)
        )

    assert posts(careless_server) == 0
    assert len(careless_server.admin.records(key, "enrollment")) == before


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_with_results_destination_a_retried_enrollment_sends_no_batch_twice(
    careless_server: SandboxServer, account: Any, tmp_path: Path
) -> None:
    key = account(server_idempotency=False)
    hook = VotelHook()
    workflow_id = str(hook.get(endpoints.WORKFLOWS)[0]["id"])
    contact_ids = sorted(str(c["id"]) for c in hook.paginate(endpoints.CONTACTS))[:6]
    before = Counter(r["contact_id"] for r in careless_server.admin.records(key, "enrollment"))

    def task() -> EnrollContactOperator:
        return EnrollContactOperator(
            task_id="enroll", workflow_id=workflow_id, contact_ids=contact_ids, batch_size=2,
            results_destination=str(tmp_path / "enrolled.json"),
        )  # fmt: skip

    task().execute(try_context(1))
    careless_server.admin.reset_stats()
    task().execute(try_context(2))

    added = Counter(r["contact_id"] for r in careless_server.admin.records(key, "enrollment")) - before
    assert max(added.values()) == 1
    assert posts(careless_server) == 0


def test_a_trusted_connection_without_a_store_says_retries_rely_on_the_servers_keys(
    careless_server: SandboxServer, account: Any, caplog: pytest.LogCaptureFixture
) -> None:
    account(server_idempotency=True)
    with caplog.at_level("WARNING", logger="votel_airflow.delivery.engine"):
        SendSmsOperator(task_id="text", to=numbers(2), body="hi").execute(try_context(1))

    assert "relies on idempotency keys alone" in caplog.text
    assert "nobody is sent twice" not in caplog.text


def test_without_durable_progress_an_error_says_its_counts_are_this_trys_own(
    careless_server: SandboxServer, account: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the engine's state machine: try 1 texted the number; try 2, refused by 429s, said
    # "0 are sent and recorded" although the sandbox had texted it, with nothing to say why.
    key = account(server_idempotency=True, max_retries=0, adaptive_pacing=False)
    SendSmsOperator(task_id="text", to=numbers(1), body="hi").execute(try_context(1))
    arm_faults_after_screening(monkeypatch, careless_server.admin, burst_429=5)

    with pytest.raises(VotelError) as info:
        SendSmsOperator(task_id="text", to=numbers(1), body="hi").execute(try_context(2))

    assert len(texts_per_number(careless_server, key)) == 1
    assert "0 are sent and recorded" in str(info.value)
    assert UNKNOWN_EARLIER in str(info.value)
