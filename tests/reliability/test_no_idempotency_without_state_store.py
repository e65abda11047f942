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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support import FakeTaskInstance, arm_faults_after_screening, make_context
from votel_airflow import compat, endpoints
from votel_airflow.delivery.engine import UNKNOWN_EARLIER
from votel_airflow.exceptions import (
    VotelConfigurationError,
    VotelError,
    VotelPaymentRequiredError,
    VotelUnsafeRetryError,
)
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


#: Whom the verbs reach in the tests below.
PERSON = "+14157770999"
VERBS = ["send_sms", "send_email", "send_message", "start_call"]


def requests_made(server: SandboxServer) -> int:
    return sum(server.admin.stats()["paths"].values())


def verb_call(hook: VotelHook, verb: str) -> Callable[[], dict[str, Any]]:
    """One verb's call to one person, its ids read now (those reads are not the verb's)."""
    if verb == "send_sms":
        return lambda: hook.send_sms(PERSON, "Your order shipped")
    if verb == "send_email":
        return lambda: hook.send_email("ada@example.com", "Shipped", text="Your order shipped")
    if verb == "send_message":
        contact_id = str(hook.get(endpoints.CONTACTS)[0]["id"])
        return lambda: hook.send_message(contact_id, "sms", "Your order shipped")
    agent_id = str(hook.get(endpoints.AGENTS)[0]["id"])
    return lambda: hook.start_call(agent_id, PERSON)


@contextmanager
def running_task(try_number: int) -> Iterator[None]:
    """Inside try ``try_number`` of a task as the verbs find it, without a task state store."""
    from airflow.sdk.execution_time.context import set_current_context

    with set_current_context(try_context(try_number)):  # type: ignore[arg-type]
        yield


def reached(server: SandboxServer, key: str) -> int:
    """Texts, e-mails, thread messages and calls the account made."""
    return sum(len(server.admin.records(key, kind)) for kind in ("sms", "email", "message", "call"))


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
@pytest.mark.parametrize("verb", VERBS)
def test_a_retried_verb_refuses_before_any_request_when_nothing_kept_the_first_tries_answer(
    careless_server: SandboxServer, account: Any, verb: str
) -> None:
    key = account(server_idempotency=False)
    call = verb_call(VotelHook(), verb)
    before = requests_made(careless_server)

    with running_task(2), pytest.raises(VotelConfigurationError) as info:
        call()

    assert isinstance(info.value, VotelUnsafeRetryError)
    assert (info.value.verb, info.value.try_number) == (verb, 2)
    message = str(info.value)
    assert message.startswith(f"{verb}() to {info.value.recipient}: this is try 2")
    for fix in ("Airflow 3.3", "server_idempotency to true", f"{verb}(..., screen=False)"):
        assert fix in message
    # Not one request: neither the outreach policy's reads nor the send.
    assert requests_made(careless_server) == before
    assert reached(careless_server, key) == 0


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
@pytest.mark.parametrize("verb", VERBS)
def test_a_first_try_verb_sends_as_before_on_such_a_server(
    careless_server: SandboxServer, account: Any, verb: str
) -> None:
    key = account(server_idempotency=False)
    call = verb_call(VotelHook(), verb)

    with running_task(1):
        answer = call()

    assert answer["id"]
    assert reached(careless_server, key) == 1


def test_a_retried_verb_sends_when_the_connection_trusts_the_servers_keys(
    careless_server: SandboxServer, account: Any
) -> None:
    # With server_idempotency on (the default) the server answers a repeated key with its first
    # response, so the retry asks again, as it always did; this sandbox ignores keys, so it texts.
    key = account(server_idempotency=True)

    with running_task(2):
        answer = VotelHook().send_sms(PERSON, "Your order shipped")

    assert answer["id"]
    assert texts_per_number(careless_server, key) == Counter({PERSON: 1})


@pytest.mark.skipif(
    not (compat.airflow_version() or "").startswith(("3.0.", "3.1.", "3.2.")),
    reason="Airflow 3.3 has a task state store: the retry gets the kept answer back (test_no_idempotency.py)",
)
def test_a_retried_task_fails_its_verb_before_texting_again_on_an_airflow_without_the_store(
    careless_server: SandboxServer, account: Any, airflow_db: Path, dags: Path
) -> None:
    from tests.delivery.test_verbs import RETRIED_VERB_DAG
    from tests.support import dagrun_task_states, run_dag, write_dag

    key = account(server_idempotency=False)
    verb_call = f"send_sms({PERSON!r}, 'Your order shipped')"
    write_dag(dags, RETRIED_VERB_DAG.replace("VERB_CALL", verb_call).replace("CLOCKS", "None"))

    dagrun = run_dag(dags, "retried_verb")

    # The first try texted and failed later; the retry refused before asking again.
    assert dagrun_task_states(dagrun) == {"reach": "failed"}
    assert texts_per_number(careless_server, key) == Counter({PERSON: 1})
