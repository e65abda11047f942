"""AI calls under the outreach policy, on the channel ``call``: opt-outs (``dnd``, ``call`` in
``dnd_channels``, the suppression list), quiet hours in the person's zone on both sides of midnight
with a deferral that calls once, caps counted from the call log, and the call notifier, which pages
at any hour but never past an opt-out."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.test_screening import MORNING_IN_CALIFORNIA, NIGHT_IN_CALIFORNIA, A, B, C, contact
from tests.support import make_callback_context, make_context
from votel_airflow import endpoints
from votel_airflow.compat import TaskDeferred
from votel_airflow.defaults import POLICY_CLOCK_ENV
from votel_airflow.exceptions import VotelQuietHoursError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.agents import StartCallOperator

#: 09:00 UTC on the suite's day: 02:00 in San Francisco, past midnight and still quiet.
AFTER_MIDNIGHT_IN_CALIFORNIA = "2026-06-15T09:00:00+00:00"
PARIS = "+14155557204"


@pytest.fixture
def agent_id(votel_connection: str) -> str:
    return str(VotelHook().get(endpoints.AGENTS)[0]["id"])


def called(admin: Any, api_key: str) -> Counter[str]:
    return Counter(record["recipient"] for record in admin.records(api_key, "call"))


def test_a_number_opted_out_of_calls_is_not_called_and_the_skip_names_the_reason(
    votel_sandbox: Any, votel_api_key: str, agent_id: str
) -> None:
    contact(A, dnd_channels=["call"])
    contact(B, dnd=True)

    skips = [
        StartCallOperator(task_id=f"call_{n[1:]}", agent_id=agent_id, to=n).execute(make_context())
        for n in (A, B)
    ]

    assert called(votel_sandbox.admin, votel_api_key) == Counter()
    assert [(s["id"], s["status"], s["reason"]) for s in skips] == [(None, "skipped", "opted_out")] * 2
    assert skips[0]["skipped"]["opted_out"] == 1
    assert skips[0]["skipped_recipients"]["opted_out"] == [A]


def test_sms_opt_outs_and_stop_replies_do_not_stop_a_call(
    votel_sandbox: Any, votel_api_key: str, agent_id: str
) -> None:
    # The contract makes STOP an SMS keyword (an inbound text); calls have their own dnd_channels entry.
    contact(A, dnd_channels=["sms"])
    votel_sandbox.admin.inject_inbound(votel_api_key, from_=B, body="STOP")

    for number in (A, B):
        StartCallOperator(task_id="call", agent_id=agent_id, to=number).execute(make_context())

    assert called(votel_sandbox.admin, votel_api_key) == Counter([A, B])


def test_a_number_on_the_suppression_list_is_not_called(
    votel_sandbox: Any, votel_api_key: str, agent_id: str, tmp_path: Path
) -> None:
    listed = tmp_path / "suppressed.txt"
    listed.write_text(f"{A}\n")

    skip = StartCallOperator(task_id="call", agent_id=agent_id, to=A, suppression_list=str(listed)).execute(
        make_context()
    )

    assert skip["reason"] == "suppressed"
    assert called(votel_sandbox.admin, votel_api_key) == Counter()


@pytest.mark.parametrize("night", [NIGHT_IN_CALIFORNIA, AFTER_MIDNIGHT_IN_CALIFORNIA])
def test_quiet_hours_hold_a_call_on_both_sides_of_midnight_in_the_persons_zone(
    votel_sandbox: Any, votel_api_key: str, agent_id: str, monkeypatch: pytest.MonkeyPatch, night: str
) -> None:
    monkeypatch.setenv(POLICY_CLOCK_ENV, night)
    contact(PARIS, timezone="Europe/Paris")  # 08:00 or 11:00 there: open

    sleeping = StartCallOperator(task_id="a", agent_id=agent_id, to=A, on_quiet_hours="skip").execute(
        make_context()
    )
    awake = StartCallOperator(task_id="b", agent_id=agent_id, to=PARIS, on_quiet_hours="skip").execute(
        make_context()
    )

    assert (sleeping["reason"], sleeping["skipped"]["quiet_hours"]) == ("quiet_hours", 1)
    assert awake["status"] == "queued"
    assert called(votel_sandbox.admin, votel_api_key) == Counter([PARIS])


def test_on_quiet_hours_fail_fails_before_calling(
    votel_sandbox: Any, votel_api_key: str, agent_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICY_CLOCK_ENV, AFTER_MIDNIGHT_IN_CALIFORNIA)

    with pytest.raises(
        VotelQuietHoursError, match=r"inside their quiet hours; their window opens at 2026-06-15T15:00"
    ):
        StartCallOperator(task_id="call", agent_id=agent_id, to=A, on_quiet_hours="fail").execute(
            make_context()
        )

    assert called(votel_sandbox.admin, votel_api_key) == Counter()


def test_a_call_at_night_defers_to_the_morning_then_calls_once(
    votel_sandbox: Any, votel_api_key: str, agent_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICY_CLOCK_ENV, AFTER_MIDNIGHT_IN_CALIFORNIA)
    operator = StartCallOperator(task_id="call", agent_id=agent_id, to=A)
    context = make_context()

    with pytest.raises(TaskDeferred) as info:
        operator.execute(context)
    assert info.value.trigger.moment == MORNING_IN_CALIFORNIA
    assert called(votel_sandbox.admin, votel_api_key) == Counter()

    # The trigger fires at 08:00 in San Francisco; the policy's clock may lag (here it is fixed).
    resumed = getattr(operator, info.value.method_name)(context, None)
    again = getattr(operator, info.value.method_name)(context, None)  # a repeat of the resume

    assert resumed["status"] == "queued"
    assert again["id"] == resumed["id"]
    assert called(votel_sandbox.admin, votel_api_key) == Counter([A])


def test_a_resumed_call_is_judged_again_and_not_made_to_someone_who_opted_out_overnight(
    votel_sandbox: Any, votel_api_key: str, agent_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    operator = StartCallOperator(task_id="call", agent_id=agent_id, to=A)
    context = make_context()
    with pytest.raises(TaskDeferred) as info:
        operator.execute(context)

    contact(A, dnd_channels=["call"])
    skip = getattr(operator, info.value.method_name)(context, None)

    assert skip["reason"] == "opted_out"
    assert called(votel_sandbox.admin, votel_api_key) == Counter()


CALL_DAG = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from votel_airflow.operators.agents import StartCallOperator

with DAG("night_call", schedule=None, start_date=datetime(2026, 1, 1)):
    StartCallOperator(task_id="call", agent_id="{agent_id}", to="{to}", retry_delay=timedelta(0))
"""


def test_a_deferred_call_resumes_in_a_dag_run_and_rings_once(
    votel_sandbox: Any,
    votel_api_key: str,
    agent_id: str,
    airflow_db: Path,
    dags: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support import dagrun_task_states, run_dag, write_dag

    # Airflow's trigger waits on the wall clock, so the night is one the wall clock has left behind
    # (09:00 UTC two days ago: 01:00 or 02:00 in California, whatever the season), not the suite's
    # pinned day: on a clock before that day the run would wait until then.
    night = (datetime.now(timezone.utc) - timedelta(days=2)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    monkeypatch.setenv(POLICY_CLOCK_ENV, night.isoformat())
    write_dag(dags, CALL_DAG.format(agent_id=agent_id, to=A))

    # Deferred until 08:00 in California, which has come: the trigger fires at once.
    dagrun = run_dag(dags, "night_call")

    assert dagrun_task_states(dagrun) == {"call": "success"}
    assert called(votel_sandbox.admin, votel_api_key) == Counter([A])


def test_a_call_cap_counts_the_call_log_across_dags(
    votel_sandbox: Any, votel_api_key: str, agent_id: str
) -> None:
    cap = {"max_per_recipient": (1, "24h")}
    StartCallOperator(task_id="first", agent_id=agent_id, to=A, **cap).execute(make_context())
    # Another DAG's task, so another idempotency key: only the cap keeps A from a second call.
    other = make_context(run_id="other_dag_run")
    other["ti"].dag_id = "other_dag"

    capped = StartCallOperator(task_id="second", agent_id=agent_id, to=A, **cap).execute(other)
    fresh = StartCallOperator(task_id="third", agent_id=agent_id, to=B, **cap).execute(other)

    assert capped["reason"] == "frequency_capped"
    assert fresh["status"] == "queued"
    assert called(votel_sandbox.admin, votel_api_key) == Counter([A, B])


@pytest.mark.parametrize("kept_in", ["task_state_store", "results_destination"])
def test_a_retry_returns_the_call_its_first_try_started_instead_of_counting_it_against_the_cap(
    votel_sandbox: Any, votel_api_key: str, agent_id: str, tmp_path: Path, kept_in: str
) -> None:
    from tests.support import FakeStateStore

    # Airflow 3.3 keeps the started call in the task state store; 3.0-3.2 beside results_destination.
    store = FakeStateStore() if kept_in == "task_state_store" else None
    results = str(tmp_path / "call.json") if kept_in == "results_destination" else None
    operator = StartCallOperator(
        task_id="call", agent_id=agent_id, to=A, max_per_recipient=(1, "24h"), results_destination=results
    )
    first = operator.execute(make_context(state_store=store))

    # The same task instance again (a retry after a later step failed): the same idempotency key.
    retry = operator.execute(make_context(state_store=store))

    assert (retry["id"], retry.get("reason")) == (first["id"], None)
    assert called(votel_sandbox.admin, votel_api_key) == Counter([A])


def test_a_retried_call_is_still_capped_by_another_tasks_call_to_the_same_person(
    votel_sandbox: Any, votel_api_key: str, agent_id: str
) -> None:
    from tests.support import FakeStateStore

    cap = {"max_per_recipient": (1, "24h")}
    StartCallOperator(task_id="first", agent_id=agent_id, to=A, **cap).execute(make_context())
    # A try of another task that started nothing: its progress holds no call, so it is judged.
    store = FakeStateStore()
    second = StartCallOperator(task_id="second", agent_id=agent_id, to=A, **cap)
    capped = second.execute(make_context(state_store=store))
    retried = second.execute(make_context(state_store=store))

    assert (capped["reason"], retried["reason"]) == ("frequency_capped", "frequency_capped")
    assert called(votel_sandbox.admin, votel_api_key) == Counter([A])


def test_a_retry_of_a_call_deferred_past_quiet_hours_returns_the_call_its_resume_started(
    votel_sandbox: Any, votel_api_key: str, agent_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support import FakeStateStore

    monkeypatch.setenv(POLICY_CLOCK_ENV, AFTER_MIDNIGHT_IN_CALIFORNIA)
    store = FakeStateStore()
    operator = StartCallOperator(task_id="call", agent_id=agent_id, to=A, max_per_recipient=(1, "24h"))
    context = make_context(state_store=store)
    with pytest.raises(TaskDeferred) as info:
        operator.execute(context)
    resumed = getattr(operator, info.value.method_name)(context, None)

    # The resumed part failed after starting the call; its retry resumes again, same key.
    retry = getattr(operator, info.value.method_name)(make_context(ti=context["ti"], state_store=store), None)

    assert (retry["id"], retry.get("reason")) == (resumed["id"], None)
    assert called(votel_sandbox.admin, votel_api_key) == Counter([A])


def test_start_call_verb_skips_an_opted_out_number_even_when_transactional(
    votel_sandbox: Any, votel_api_key: str, agent_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    contact(A, dnd_channels=["call"])
    hook = VotelHook()

    optout = hook.start_call(agent_id, A, idempotency_key="page-a", transactional=True)
    night = hook.start_call(agent_id, B, idempotency_key="promo-b")
    page = hook.start_call(agent_id, C, idempotency_key="page-c", transactional=True)

    assert optout == {"id": None, "status": "skipped", "to": A, "reason": "opted_out"}
    assert (night["reason"], night["next_opening"]) == ("quiet_hours", MORNING_IN_CALIFORNIA.isoformat())
    assert page["status"] == "queued"
    assert called(votel_sandbox.admin, votel_api_key) == Counter([C])


def test_the_call_notifier_pages_at_night_but_never_a_number_opted_out_of_calls(
    votel_sandbox: Any, votel_api_key: str, agent_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from votel_airflow.notifications import VotelCallNotifier

    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    contact(B, dnd_channels=["call"])
    context = make_callback_context()
    context["ti"].state = "failed"

    VotelCallNotifier(agent_id=agent_id, to=A)(dict(context))
    VotelCallNotifier(agent_id=agent_id, to=B)(dict(context))

    assert called(votel_sandbox.admin, votel_api_key) == Counter([A])


def test_the_call_notifiers_deadline_path_never_calls_a_number_that_opted_out(
    votel_sandbox: Any, votel_api_key: str, agent_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from votel_airflow.notifications import VotelCallNotifier

    monkeypatch.setenv(POLICY_CLOCK_ENV, NIGHT_IN_CALIFORNIA)
    contact(B, dnd=True)
    run = {"dag_id": "nightly_load", "run_id": "manual__1", "state": "running"}

    for number in (A, B):
        deadline = {"id": str(uuid.uuid4()), "deadline_time": datetime.now(timezone.utc).isoformat()}
        notifier = VotelCallNotifier(agent_id=agent_id, to=number)
        # What the triggerer awaits for a DeadlineAlert callback (3.1+); the same on every minor.
        asyncio.run(notifier.async_notify({"dag_run": run, "deadline": deadline}))

    assert called(votel_sandbox.admin, votel_api_key) == Counter([A])


def test_the_call_notifier_run_again_for_one_event_returns_its_call_past_a_cap(
    votel_sandbox: Any,
    votel_api_key: str,
    votel_connection: str,
    agent_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json
    import os

    from votel_airflow.notifications import VotelCallNotifier

    conn = json.loads(os.environ["AIRFLOW_CONN_VOTEL_DEFAULT"])
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps({**conn, "extra": {"max_per_recipient": [1, "1d"]}})
    )
    context = make_context()
    context["ti"].state = "failed"
    notifier = VotelCallNotifier(agent_id=agent_id, to=A)

    # A page is transactional: its own earlier call, like any other, does not cap it.
    first = notifier.send(dict(context))
    again = notifier.send(dict(context))

    assert (again["id"], again["status"]) == (first["id"], "queued")
    assert called(votel_sandbox.admin, votel_api_key) == Counter([A])
