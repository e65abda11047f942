"""The hook verbs against a server that ignores ``Idempotency-Key``, with a task state store (3.3).

On such a connection a screening verb writes its request ahead (*pending*) before the ``POST`` and
its answer after it, as the bulk-send engine does, so a worker that dies between the server's
answer and the save leaves a mark the retry heeds: the message found in the messaging log is
returned as sent, and anything it cannot decide raises before any request. A refusal that surely
did nothing clears the mark; a connection that trusts the server's keys writes only the answer.
The worker's death is a ``BaseException`` raised by the store at the write that saves the answer:
after the server acted, before anything else of the try runs, as a SIGKILL would leave it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support import FakeStateStore, FakeTaskInstance, arm_faults_after_screening, make_context
from votel_airflow import endpoints
from votel_airflow.delivery import ambiguity
from votel_airflow.delivery.idempotency import stored_progress
from votel_airflow.exceptions import VotelOutcomeUnknownError, VotelPaymentRequiredError
from votel_airflow.hooks.verbs import ANSWER_PROGRESS_PREFIX
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow

PERSON = "+14157770888"
EMAIL = "grace@example.com"
#: What each verb leaves in the sandbox's records.
KINDS = {"send_sms": "sms", "send_email": "email", "send_message": "message", "start_call": "call"}
MESSAGE_VERBS = ["send_sms", "send_email", "send_message"]


class WorkerDied(BaseException):
    """The worker's end (SIGKILL, OOM): nothing of the try runs after it, no handler catches it."""


class DyingStore(FakeStateStore):
    """A task state store whose worker dies at its ``die_at``-th write (1-based), before it lands."""

    def __init__(self, die_at: int | None = None) -> None:
        super().__init__()
        self.die_at = die_at

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if self.die_at is not None and self.writes + 1 == self.die_at:
            self.die_at = None  # only the killed try dies
            raise WorkerDied("the worker was killed")
        super().set(key, value, retention=retention)


@contextmanager
def running_task(try_number: int, store: FakeStateStore) -> Iterator[None]:
    """Inside try ``try_number`` of one task instance, whose task state store is ``store``."""
    from airflow.sdk.execution_time.context import set_current_context

    context = make_context(ti=FakeTaskInstance(try_number=try_number), state_store=store)
    with set_current_context(context):  # type: ignore[arg-type]
        yield


def verb_call(hook: VotelHook, verb: str) -> Callable[[], dict[str, Any]]:
    """One verb's call to one person, its ids read now (those reads are not the verb's)."""
    if verb == "send_sms":
        return lambda: hook.send_sms(PERSON, "Your order shipped")
    if verb == "send_email":
        return lambda: hook.send_email(EMAIL, "Shipped", text="Your order shipped")
    if verb == "send_message":
        contact_id = str(hook.get(endpoints.CONTACTS)[0]["id"])
        return lambda: hook.send_message(contact_id, "sms", "Your order shipped")
    agent_id = str(hook.get(endpoints.AGENTS)[0]["id"])
    return lambda: hook.start_call(agent_id, PERSON)


def records(server: SandboxServer, key: str, verb: str) -> list[dict[str, Any]]:
    return list(server.admin.records(key, KINDS[verb]))


def posts(server: SandboxServer) -> int:
    return sum(count for label, count in server.admin.stats()["paths"].items() if label.startswith("POST "))


def kept(store: FakeStateStore) -> list[Any]:
    """Every value the verbs' progress holds in ``store``, one per key."""
    names = {k.partition(".part-")[0] for k in store.values if k.startswith(ANSWER_PROGRESS_PREFIX)}
    return [value for name in names for value in stored_progress(store, name).values()]


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
@pytest.mark.parametrize("verb", MESSAGE_VERBS)
def test_a_verb_whose_worker_died_before_saving_the_answer_is_found_in_the_log_not_sent_again(
    careless_server: SandboxServer, account: Any, verb: str
) -> None:
    key = account(server_idempotency=False)
    call = verb_call(VotelHook(), verb)
    store = DyingStore(die_at=2)  # 1: the write-ahead; 2: the answer, after the server acted

    with running_task(1, store), pytest.raises(WorkerDied):
        call()
    (sent,) = records(careless_server, key, verb)
    careless_server.admin.reset_stats()
    with running_task(2, store):
        answer = call()

    assert posts(careless_server) == 0
    assert [r["id"] for r in records(careless_server, key, verb)] == [sent["id"]]
    assert (answer["id"], answer["status"]) == (sent["id"], "reconciled")


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_a_call_whose_worker_died_before_saving_the_answer_is_not_started_again(
    careless_server: SandboxServer, account: Any
) -> None:
    key = account(server_idempotency=False)
    call = verb_call(VotelHook(), "start_call")
    store = DyingStore(die_at=2)
    with running_task(1, store), pytest.raises(WorkerDied):
        call()
    careless_server.admin.reset_stats()

    with running_task(2, store), pytest.raises(VotelOutcomeUnknownError) as info:
        call()

    assert posts(careless_server) == 0
    assert len(records(careless_server, key, "start_call")) == 1
    message = str(info.value)
    assert message.startswith(f"start_call() to {PERSON}: an earlier try of this task stopped while")
    assert "may have been in flight" in message
    assert "call log" in message


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_a_verb_written_ahead_and_not_in_the_log_raises_before_any_request(
    careless_server: SandboxServer, account: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker died after the write-ahead, before the request left: nothing is logged, and that
    # absence proves nothing (a log can lag), so the retry may not send either.
    key = account(server_idempotency=False)
    hook = VotelHook()
    store = FakeStateStore()

    real = VotelHook.request

    def killed(self: VotelHook, method: str, path: str, **kwargs: Any) -> Any:
        if method == "POST":
            raise WorkerDied("killed as the request was about to leave")
        return real(self, method, path, **kwargs)

    with running_task(1, store), monkeypatch.context() as patch:
        patch.setattr(VotelHook, "request", killed)
        with pytest.raises(WorkerDied):
            hook.send_sms(PERSON, "Your order shipped")
    assert [ambiguity.marker(value) for value in kept(store)] == [ambiguity.PENDING]
    careless_server.admin.reset_stats()

    with running_task(2, store), pytest.raises(VotelOutcomeUnknownError) as info:
        hook.send_sms(PERSON, "Your order shipped")

    assert posts(careless_server) == 0
    assert records(careless_server, key, "send_sms") == []
    assert "messaging log does not show it" in str(info.value)


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_an_ambiguous_failure_keeps_its_mark_and_the_retry_finds_the_message_in_the_log(
    careless_server: SandboxServer, account: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = account(server_idempotency=False, max_retries=0)
    hook = VotelHook()
    store = FakeStateStore()
    arm_faults_after_screening(monkeypatch, careless_server.admin, error_after_rate=1.0)
    with running_task(1, store), pytest.raises(VotelOutcomeUnknownError):
        hook.send_sms(PERSON, "Your order shipped")
    careless_server.admin.clear_faults()
    assert [ambiguity.marker(value) for value in kept(store)] == [ambiguity.AMBIGUOUS]

    with running_task(2, store):
        answer = hook.send_sms(PERSON, "Your order shipped")

    assert [r["id"] for r in records(careless_server, key, "send_sms")] == [answer["id"]]


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_a_refused_verb_clears_its_mark_and_the_retry_sends_once(
    careless_server: SandboxServer, account: Any
) -> None:
    key = account(server_idempotency=False)
    hook = VotelHook()
    store = FakeStateStore()
    careless_server.admin.set_wallet(key, 0.0)  # 402: refused, surely nothing sent
    with running_task(1, store), pytest.raises(VotelPaymentRequiredError):
        hook.send_sms(PERSON, "Your order shipped")
    assert [ambiguity.marker(value) for value in kept(store)] == [ambiguity.UNSENT]
    careless_server.admin.set_wallet(key, 100.0)

    with running_task(2, store):
        answer = hook.send_sms(PERSON, "Your order shipped")

    assert [r["id"] for r in records(careless_server, key, "send_sms")] == [answer["id"]]


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
@pytest.mark.parametrize("verb", list(KINDS))
def test_on_a_connection_that_trusts_the_keys_a_verb_writes_only_its_answer(
    careless_server: SandboxServer, account: Any, verb: str
) -> None:
    account()  # server_idempotency: the default, true
    call = verb_call(VotelHook(), verb)
    store = FakeStateStore()

    with running_task(1, store):
        answer = call()

    assert store.writes == 1
    assert kept(store) == [answer]


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_on_such_a_server_a_verb_writes_ahead_then_its_answer(
    careless_server: SandboxServer, account: Any
) -> None:
    account(server_idempotency=False)
    store = FakeStateStore()

    with running_task(1, store):
        answer = VotelHook().send_sms(PERSON, "Your order shipped")

    assert store.writes == 2
    assert kept(store) == [answer]


@pytest.mark.parametrize("account", [True], ids=["seeded"], indirect=True)
def test_a_mark_left_under_distrust_is_sent_again_once_the_connection_trusts_the_keys(
    careless_server: SandboxServer, account: Any
) -> None:
    # The refusal names server_idempotency=true as a fix: with it, the server is trusted to answer
    # the repeated key with its first response, so the mark no longer blocks the send.
    key = account(server_idempotency=False)
    store = DyingStore(die_at=2)
    with running_task(1, store), pytest.raises(WorkerDied):
        VotelHook().send_sms(PERSON, "Your order shipped")
    account(server_idempotency=True)
    careless_server.admin.reset_stats()

    with running_task(2, store):
        answer = VotelHook().send_sms(PERSON, "Your order shipped")

    assert posts(careless_server) == 1
    assert answer["id"] == records(careless_server, key, "send_sms")[-1]["id"]
