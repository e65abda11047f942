"""Calendars operators against the sandbox: booking (taken slots, next free, exactly once), accepting
and canceling, and the bookings extract."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    FakeStateStore,
    FakeTaskInstance,
    dagrun_task_states,
    link_of,
    make_context,
    run_dag,
    write_dag,
)
from votel_airflow import endpoints
from votel_airflow.exceptions import VotelInputError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.calendars import (
    BookingExtractOperator,
    CreateBookingOperator,
    SlotTakenError,
    UpdateBookingOperator,
)

SLOT = "2030-01-07T10:00:00+00:00"
NEXT_SLOT = "2030-01-07T10:30:00+00:00"


@pytest.fixture
def calendar(votel_connection: str) -> dict[str, Any]:
    """The first calendar, with a contact to book: ``{id, staff_id, contact_id}``."""
    hook = VotelHook()
    cal = hook.get(endpoints.CALENDARS)[0]
    contacts = hook.get(endpoints.CONTACTS, {"limit": 2})
    return {"id": cal["id"], "staff_id": cal["staff"][0]["id"], "contact_id": contacts[0]["id"],
            "other_contact_id": contacts[1]["id"]}  # fmt: skip


def book(calendar: dict[str, Any], context: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("contact_id", calendar["contact_id"])
    kwargs.setdefault("start", SLOT)
    op = CreateBookingOperator(
        task_id="book", calendar_id=calendar["id"], staff_id=calendar["staff_id"], **kwargs
    )
    context = context if context is not None else make_context()
    context["task"] = op  # where the operator records its link
    return op.execute(context)


def test_create_booking_books_the_slot_and_returns_the_booking(calendar, votel_sandbox, votel_api_key):
    context = make_context()

    booking = book(calendar, context)

    assert (booking["start"], booking["staff_id"], booking["status"]) == (
        SLOT,
        calendar["staff_id"],
        "booked",
    )
    assert [r["id"] for r in votel_sandbox.admin.records(votel_api_key, "booking")] == [booking["id"]]
    assert link_of(context["task"]).endswith(f"/calendars/bookings/{booking['id']}")
    assert json.loads(json.dumps(booking)) == booking


def test_a_taken_slot_fails_naming_the_slot(calendar, votel_sandbox, votel_api_key):
    book(calendar)

    with pytest.raises(
        SlotTakenError,
        match=rf"calendar_id='{calendar['id']}': the slot {re.escape(SLOT)} with staff_id="
        r".* is taken \(Slot already booked\)\. .*on_conflict='next_free'",
    ):
        book(
            calendar,
            make_context(ti=FakeTaskInstance(run_id="other")),
            contact_id=calendar["other_contact_id"],
        )

    assert len(votel_sandbox.admin.records(votel_api_key, "booking")) == 1


def test_next_free_books_the_first_free_slot_after_a_taken_one(calendar):
    book(calendar)

    booking = book(
        calendar, make_context(ti=FakeTaskInstance(run_id="other")), contact_id=calendar["other_contact_id"],
        on_conflict="next_free",
    )  # fmt: skip

    assert (booking["start"], booking["staff_id"]) == (NEXT_SLOT, calendar["staff_id"])


def test_retried_booking_returns_the_first_booking_instead_of_a_second_slot(
    calendar, votel_sandbox, votel_api_key
):
    store = FakeStateStore()
    first = book(calendar, make_context(state_store=store), on_conflict="next_free")

    from_store = book(calendar, make_context(state_store=store), on_conflict="next_free")
    from_key = book(calendar, make_context(), on_conflict="next_free")

    assert from_store == first
    assert from_key["id"] == first["id"]
    assert len(votel_sandbox.admin.records(votel_api_key, "booking")) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "next tuesday"}, r"start='next tuesday': is not an ISO 8601 date-time"),
        ({"on_conflict": "retry"}, r"on_conflict='retry': is not one of \['fail', 'next_free'\]"),
        ({"search_days": 60}, r"search_days=60: must be a whole number from 1 to 31"),
    ],
)
def test_create_booking_refuses_bad_arguments_when_the_dag_is_parsed(kwargs, message):
    with pytest.raises(VotelInputError, match=message):
        CreateBookingOperator(task_id="book", calendar_id="c", contact_id="p", **{"start": SLOT, **kwargs})


def test_create_booking_with_an_empty_contact_sends_nothing(calendar, votel_sandbox):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"contact_id='': must be a non-empty id string"):
        book(calendar, contact_id="")

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_update_booking_accepts_then_cancels(calendar):
    booking = book(calendar)

    accepted = UpdateBookingOperator(task_id="u", booking_id=booking["id"], status="accepted").execute(
        make_context()
    )
    canceled = UpdateBookingOperator(task_id="u", booking_id=booking["id"], status="canceled").execute(
        make_context()
    )

    assert (accepted["id"], accepted["status"], canceled["status"]) == (booking["id"], "accepted", "canceled")


def test_update_booking_refuses_an_unknown_status():
    with pytest.raises(VotelInputError, match=r"status='done': is not one of \['accepted', 'canceled'\]"):
        UpdateBookingOperator(task_id="u", booking_id="b", status="done")


def test_booking_extract_writes_the_window_filtered_by_status(calendar, tmp_path: Path):
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    kept = book(calendar)
    other = book(calendar, make_context(ti=FakeTaskInstance(run_id="other")), start=NEXT_SLOT)
    UpdateBookingOperator(task_id="u", booking_id=other["id"], status="canceled").execute(make_context())
    destination = tmp_path / "bookings.jsonl"
    until = datetime.now(timezone.utc) + timedelta(minutes=1)

    manifest = BookingExtractOperator(
        task_id="extract",
        destination=str(destination),
        since=since,
        until=until,
        filters={"status": "booked"},
    ).execute(make_context())

    assert [json.loads(line)["id"] for line in destination.read_text().splitlines()] == [kept["id"]]
    assert (manifest["records"], manifest["since"]) == (1, since.isoformat())


def test_booking_extract_with_a_bad_status_filter_writes_nothing(
    votel_sandbox, votel_connection, tmp_path: Path
):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"filters\['status'\]='done': is not one of"):
        BookingExtractOperator(
            task_id="extract", destination=str(tmp_path / "b.jsonl"), since="2026-01-01", until="2026-01-02",
            filters={"status": "done"},
        ).execute(make_context())  # fmt: skip

    assert votel_sandbox.admin.stats()["requests_total"] == 0
    assert list(tmp_path.iterdir()) == []


DAG_SOURCE = """
import json
from datetime import timedelta
import pendulum
from airflow.sdk import DAG, task
from votel_airflow.operators.calendars import (
    BookingExtractOperator, CreateBookingOperator, UpdateBookingOperator,
)

with DAG("calendars_dag", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         default_args={"retries": 0, "retry_delay": timedelta(0)}):
    booked = CreateBookingOperator(
        task_id="book", calendar_id="{{ dag_run.conf['calendar'] }}",
        contact_id="{{ dag_run.conf['contact'] }}",
        start="{{ dag_run.conf['start'] }}", staff_id="{{ dag_run.conf['staff'] }}",
    )
    accept = UpdateBookingOperator(
        task_id="accept", booking_id="{{ ti.xcom_pull('book')['id'] }}", status="{{ 'accepted' }}"
    )
    extract = BookingExtractOperator(
        task_id="extract", destination="{{ dag_run.conf['out'] }}/bookings.jsonl",
        since="{{ dag_run.conf['since'] }}", until="{{ dag_run.conf['until'] }}",
        filters={"status": "{{ 'accepted' }}"},
    )

    @task
    def keep(booking, manifest, dag_run=None):
        with open(dag_run.conf["out"] + "/result.json", "w") as f:
            json.dump({"booking": booking, "manifest": manifest}, f)

    booked >> accept >> extract
    keep(booked.output, extract.output)
"""


def test_calendars_operators_render_templates_inside_dag_test(airflow_db, calendar, dags, tmp_path):
    now = datetime.now(timezone.utc)
    conf = {
        "calendar": calendar["id"], "contact": calendar["contact_id"], "start": SLOT,
        "staff": calendar["staff_id"],
        "out": str(tmp_path), "since": (now - timedelta(minutes=5)).isoformat(),
        "until": (now + timedelta(minutes=30)).isoformat(),
    }  # fmt: skip
    write_dag(dags, DAG_SOURCE)

    dagrun = run_dag(dags, "calendars_dag", run_conf=conf)

    assert set(dagrun_task_states(dagrun).values()) == {"success"}, dagrun_task_states(dagrun)
    result = json.loads((tmp_path / "result.json").read_text())
    assert (result["booking"]["start"], result["booking"]["contact_id"]) == (SLOT, calendar["contact_id"])
    rows = [json.loads(line) for line in (tmp_path / "bookings.jsonl").read_text().splitlines()]
    assert [(r["id"], r["status"]) for r in rows] == [(result["booking"]["id"], "accepted")]
    assert result["manifest"]["records"] == 1
