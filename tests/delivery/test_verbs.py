"""The hook verbs apply the same outreach policy as the operators; ``transactional=True`` goes at
any hour and past caps, never past an opt-out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.test_screening import MORNING_IN_CALIFORNIA, NIGHT_IN_CALIFORNIA, A, B, contact, texted
from tests.support import FakeStateStore, FakeTaskInstance, make_context
from votel_airflow import endpoints
from votel_airflow.compat import airflow_version
from votel_airflow.defaults import POLICY_CLOCK_ENV
from votel_airflow.delivery.idempotency import CHUNK_SEPARATOR
from votel_airflow.hooks.votel import VotelHook


def test_send_sms_skips_an_opted_out_number_even_when_transactional(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    contact(A, dnd_channels=["sms"])
    hook = VotelHook()

    plain = hook.send_sms(A, "Sale", idempotency_key="sale-a")
    code = hook.send_sms(A, "Your code is 123456", idempotency_key="code-a", transactional=True)

    assert plain == {"id": None, "status": "skipped", "to": A, "reason": "opted_out"}
    assert code["reason"] == "opted_out"
    assert texted(votel_sandbox.admin, votel_api_key) == {}


def test_send_sms_at_night_waits_unless_transactional(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    hook = VotelHook()

    # --8<-- [start:transactional]
    marketing = hook.send_sms(A, "Sale", idempotency_key="sale-a")
    code = hook.send_sms(B, "Your code is 123456", idempotency_key="code-b", transactional=True)
    # --8<-- [end:transactional]

    assert (marketing["reason"], marketing["next_opening"]) == (
        "quiet_hours",
        MORNING_IN_CALIFORNIA.isoformat(),
    )
    assert code["id"]
    assert code["status"] == "queued"
    assert texted(votel_sandbox.admin, votel_api_key) == {B: 1}


def test_send_email_is_capped_unless_transactional(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_VOTEL_DEFAULT"])
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps({**conn, "extra": {"max_per_recipient": [1, "1d"]}})
    )
    hook = VotelHook()
    hook.send_email("ada@example.com", "Welcome", text="Hi", idempotency_key="welcome")

    promo = hook.send_email("ada@example.com", "Promo", text="Sale", idempotency_key="promo")
    receipt = hook.send_email(
        "ada@example.com", "Receipt", text="Paid", idempotency_key="receipt", transactional=True
    )

    assert promo["reason"] == "frequency_capped"
    assert receipt["id"]
    assert len(votel_sandbox.admin.records(votel_api_key, "email")) == 2


def test_the_sms_notifier_pages_at_night_but_never_an_opted_out_number(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support import make_callback_context
    from votel_airflow.notifications import VotelSmsNotifier

    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    contact(B, dnd=True)
    # With the DAG in it, as every Airflow caller builds it: 3.0's BaseNotifier renders with it.
    context = make_callback_context()
    context["ti"].state = "failed"

    VotelSmsNotifier(to=A, body="{{ ti.task_id }} failed")(dict(context))
    VotelSmsNotifier(to=B, body="{{ ti.task_id }} failed")(dict(context))

    assert texted(votel_sandbox.admin, votel_api_key) == {A: 1}


#: A task that fails at night with both numbers on its failure callback; B opted out.
PAGING_DAG = f"""
from datetime import datetime

from airflow.sdk import DAG, task

from votel_airflow.notifications import VotelSmsNotifier

with DAG("night_page", schedule=None, start_date=datetime(2026, 1, 1)):

    @task(on_failure_callback=[
        VotelSmsNotifier(to={A!r}, body="{{{{ ti.task_id }}}} failed"),
        VotelSmsNotifier(to={B!r}, body="{{{{ ti.task_id }}}} failed"),
    ])
    def load():
        raise ValueError("the warehouse is read-only")

    load()
"""


def test_a_failure_callback_pages_at_night_but_never_an_opted_out_number(
    votel_sandbox: Any,
    votel_api_key: str,
    votel_connection: str,
    airflow_db: Path,
    dags: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support import dagrun_task_states, run_dag, write_dag

    # The real path on every minor (3.0 included): Airflow builds the context and calls the notifier.
    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    contact(B, dnd=True)
    write_dag(dags, PAGING_DAG)

    dagrun = run_dag(dags, "night_page")

    assert dagrun_task_states(dagrun) == {"load": "failed"}
    assert [(m["recipient"], m["body"]) for m in votel_sandbox.admin.records(votel_api_key, "sms")] == [
        (A, "load failed")
    ]


def test_outside_a_task_a_repeat_is_judged_again_unless_it_passes_screen_false(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _capped_at_one_a_day(monkeypatch)
    hook = VotelHook()
    # --8<-- [start:own_retry]
    first = hook.send_sms(A, "Your order shipped", idempotency_key="order-1042-shipped")
    # The script failed after the send and runs again: the policy is already applied, and the key
    # makes the server answer with the first text instead of sending another.
    again = hook.send_sms(A, "Your order shipped", idempotency_key="order-1042-shipped", screen=False)
    # --8<-- [end:own_retry]
    judged = hook.send_sms(A, "Your order shipped", idempotency_key="order-1042-shipped")

    assert again["id"] == first["id"]
    # Outside a task no answer is kept: judged again, the first text caps the repeat.
    assert (judged["id"], judged["reason"]) == (None, "frequency_capped")
    assert texted(votel_sandbox.admin, votel_api_key) == {A: 1}


#: A ``@task`` whose first try reaches someone with a verb, then fails in a later step; Airflow
#: retries it once. It returns the verb's answer and the try that returned it. ``CLOCKS`` sets the
#: outreach policy's clock of each try (none: the suite's).
RETRIED_VERB_DAG = """
import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, get_current_context, task

from votel_airflow.hooks.votel import VotelHook

with DAG("retried_verb", schedule=None, start_date=datetime(2026, 1, 1)):

    @task(retries=1, retry_delay=timedelta(0))
    def reach():
        try_number = get_current_context()["ti"].try_number
        clocks = CLOCKS
        if clocks:
            os.environ["POLICY_CLOCK_ENV"] = clocks[try_number - 1]
        answer = VotelHook().VERB_CALL
        if try_number == 1:
            raise RuntimeError("a later step of the first try failed")
        return {"answer": answer, "try_number": try_number}

    reach()
"""


def _capped_at_one_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_VOTEL_DEFAULT"])
    extra = {"max_per_recipient": [1, "1d"]}
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps({**conn, "extra": extra}))


def run_retried_verb(dags: Path, verb_call: str, clocks: tuple[str, str] | None = None) -> dict[str, Any]:
    """Run :data:`RETRIED_VERB_DAG` with ``verb_call``; the verb's answer in the second try."""
    from tests.support import dagrun_task_states, run_dag, task_result, write_dag

    source = RETRIED_VERB_DAG.replace("VERB_CALL", verb_call).replace("CLOCKS", repr(clocks))
    write_dag(dags, source.replace("POLICY_CLOCK_ENV", POLICY_CLOCK_ENV))
    dagrun = run_dag(dags, "retried_verb")
    assert dagrun_task_states(dagrun) == {"reach": "success"}
    result = task_result(dagrun, "reach")
    assert result["try_number"] == 2, "the first try failed after the verb, as written"
    answer: dict[str, Any] = result["answer"]
    return answer


def _keeps_answers() -> bool:
    # The verbs keep their answers in the task state store, which Airflow has from 3.3.
    return not (airflow_version() or "").startswith(("3.0.", "3.1.", "3.2."))


def test_a_retried_task_gets_its_first_tries_sms_back_instead_of_a_frequency_cap(
    votel_sandbox: Any,
    votel_api_key: str,
    votel_connection: str,
    airflow_db: Path,
    dags: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _capped_at_one_a_day(monkeypatch)

    retry = run_retried_verb(dags, f"send_sms({A!r}, 'Your order shipped')")

    (sms,) = votel_sandbox.admin.records(votel_api_key, "sms")
    if _keeps_answers():
        assert (retry["id"], retry["status"]) == (sms["id"], "queued")
    else:
        # Before 3.3 nothing outlives a try: the retry is judged again, and its own text caps it.
        assert (retry["id"], retry["reason"]) == (None, "frequency_capped")
    assert sms["recipient"] == A


def test_a_retried_task_gets_its_first_tries_call_back_instead_of_a_frequency_cap(
    votel_sandbox: Any,
    votel_api_key: str,
    votel_connection: str,
    airflow_db: Path,
    dags: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent_id = VotelHook().get(endpoints.AGENTS)[0]["id"]
    _capped_at_one_a_day(monkeypatch)

    retry = run_retried_verb(dags, f"start_call({agent_id!r}, {A!r})")

    (call,) = votel_sandbox.admin.records(votel_api_key, "call")
    if _keeps_answers():
        assert (retry["id"], retry["status"]) == (call["id"], "queued")
    else:
        assert (retry["id"], retry["reason"]) == (None, "frequency_capped")
    assert call["recipient"] == A


def test_a_retried_task_judges_again_a_send_its_first_try_was_kept_from(
    votel_sandbox: Any,
    votel_api_key: str,
    votel_connection: str,
    airflow_db: Path,
    dags: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Restored after the test: the DAG's tries set the policy clock in this process.
    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    clocks = (NIGHT_IN_CALIFORNIA, MORNING_IN_CALIFORNIA.isoformat())

    # The first try is held by the person's quiet hours; the retry runs once their morning came.
    retry = run_retried_verb(dags, f"send_sms({A!r}, 'Your order shipped')", clocks)

    (sms,) = votel_sandbox.admin.records(votel_api_key, "sms")
    assert (retry["id"], retry["status"]) == (sms["id"], "queued")


class CountingStateStore(FakeStateStore):
    """A task state store that notes every key read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.reads.append(key)
        return super().get(key, default)


@contextmanager
def running_task(
    store: FakeStateStore, try_number: int, ti: FakeTaskInstance | None = None, **context: Any
) -> Iterator[None]:
    """Inside try ``try_number`` of one task instance whose task state store is ``store``."""
    from airflow.sdk.execution_time.context import set_current_context

    ti = ti or FakeTaskInstance(try_number=try_number)
    with set_current_context(make_context(ti=ti, state_store=store, **context)):  # type: ignore[arg-type]
        yield


def test_a_first_try_reads_nothing_from_the_task_state_store_and_writes_its_answer_once(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    store = CountingStateStore()

    with running_task(store, 1):
        VotelHook().send_sms(A, "Your order shipped")

    # No earlier try can have kept an answer: the reads would cost a supervisor round-trip each.
    assert store.reads == []
    assert store.writes == 1


def test_a_retry_reads_only_the_chunks_its_first_try_wrote(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    store = CountingStateStore()
    with running_task(store, 1):
        first = VotelHook().send_sms(A, "Your order shipped")

    with running_task(store, 2):
        again = VotelHook().send_sms(A, "Your order shipped")

    assert again == first
    assert texted(votel_sandbox.admin, votel_api_key) == {A: 1}
    # The chunk written, then the one after it that is not there; never the one-value format of
    # the engine's older releases, which no verb ever wrote.
    assert [key.rsplit(CHUNK_SEPARATOR, 1)[1] for key in store.reads] == ["0", "1"]


def test_a_rescheduled_first_try_still_finds_the_answer_its_earlier_run_kept(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reschedule (a sensor's poke in reschedule mode) runs again under try 1, the store kept;
    # judged again, its own first text would cap it.
    _capped_at_one_a_day(monkeypatch)
    store = CountingStateStore()
    with running_task(store, 1):
        first = VotelHook().send_sms(A, "Your order shipped", idempotency_key="shipped-a")

    with running_task(store, 1, task_reschedule_count=1):
        again = VotelHook().send_sms(A, "Your order shipped", idempotency_key="shipped-a")

    assert again == first
    assert texted(votel_sandbox.admin, votel_api_key) == {A: 1}


def test_a_first_try_resumed_after_a_deferral_still_finds_the_answer_it_kept(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    # Resumed from the triggerer, a task runs its next method under the same try, the store kept.
    _capped_at_one_a_day(monkeypatch)
    store = CountingStateStore()
    with running_task(store, 1):
        first = VotelHook().send_sms(A, "Your order shipped", idempotency_key="shipped-a")

    resumed = FakeTaskInstance(try_number=1)
    resumed._ti_context_from_server = SimpleNamespace(next_method="execute_complete")  # type: ignore[attr-defined]

    with running_task(store, 1, ti=resumed):
        again = VotelHook().send_sms(A, "Your order shipped", idempotency_key="shipped-a")

    assert again == first
    assert texted(votel_sandbox.admin, votel_api_key) == {A: 1}
