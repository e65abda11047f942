"""BookingSensor: deferred inside dag.test() until the booking appears; which bookings count."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from tests.support import dagrun_task_states, make_context, run_dag, write_dag
from votel_airflow import endpoints
from votel_airflow.conditions import Condition
from votel_airflow.exceptions import VotelInputError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sensors.calendars import BookingCondition, BookingSensor

DAG_SOURCE = """
import json
from datetime import timedelta
import pendulum
from airflow.sdk import DAG, task
from votel_airflow.sensors.calendars import BookingSensor

with DAG("booking_sensor_dag", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         default_args={"retries": 0, "retry_delay": timedelta(0)}):

    wait = BookingSensor(
        task_id="wait", contact_id="{{ dag_run.conf['contact'] }}", since="{{ dag_run.conf['since'] }}",
        until="{{ None }}", calendar_id="{{ dag_run.conf['calendar'] }}", deferrable=True, poke_interval=0.1,
        timeout=60,
    )

    @task
    def keep(booking, dag_run=None):
        with open(dag_run.conf["out"] + "/booking.json", "w") as f:
            json.dump(booking, f)

    keep(wait.output)
"""


def book_after_the_first_look(sandbox: Any, calendar: dict[str, Any], contact: dict[str, Any]) -> None:
    """Book ``contact`` on ``calendar`` as soon as the sandbox has answered one booking lookup."""
    deadline = time.monotonic() + 60
    while sandbox.admin.stats()["paths"].get("GET /bookings", 0) < 1:
        if time.monotonic() > deadline:
            return  # the sensor never looked: the test fails on the missing booking
        time.sleep(0.05)
    path = endpoints.path(endpoints.CALENDAR_BOOKINGS, calendar_id=calendar["id"])
    VotelHook().request("POST", path, json={"contact_id": contact["id"], "start": "2030-01-08T09:00:00Z"})


def test_deferrable_booking_sensor_in_dag_test_returns_the_booking_once_made(
    airflow_db, votel_sandbox, votel_api_key, votel_connection, dags, tmp_path
):
    hook = VotelHook()
    calendar = hook.get(endpoints.CALENDARS)[0]
    contact = hook.get(endpoints.CONTACTS, {"limit": 1})[0]
    write_dag(dags, DAG_SOURCE)
    votel_sandbox.admin.reset_stats()
    # The booking lands once the sensor has looked and found none, however long dag.test() takes
    # to start the task on a loaded machine (a fixed delay raced it on the older minors).
    booker = threading.Thread(target=book_after_the_first_look, args=(votel_sandbox, calendar, contact))
    booker.start()

    try:
        dagrun = run_dag(
            dags, "booking_sensor_dag",
            run_conf={"contact": contact["id"], "since": contact["created_at"], "calendar": calendar["id"],
                      "out": str(tmp_path)},
        )  # fmt: skip
    finally:
        booker.join()

    assert set(dagrun_task_states(dagrun).values()) == {"success"}, dagrun_task_states(dagrun)
    booking = json.loads((tmp_path / "booking.json").read_text())
    made = votel_sandbox.admin.records(votel_api_key, "booking")
    assert [booking["id"]] == [r["id"] for r in made]
    assert (booking["contact_id"], booking["status"]) == (contact["id"], "booked")
    # The first look found nothing, so the trigger polled until the booking appeared.
    assert votel_sandbox.admin.stats()["paths"]["GET /bookings"] >= 2


def booking(**fields: str) -> dict[str, str]:
    return {"id": "b1", "contact_id": "c1", "status": "booked", "calendar_id": "cal", **fields}


@pytest.mark.parametrize(
    ("answer", "done"),
    [
        (booking(), True),
        (booking(contact_id="c2"), False),
        (booking(status="canceled"), False),
        (booking(calendar_id="other"), False),
        (booking(status="accepted"), True),
    ],
)
def test_only_a_live_booking_of_the_contact_in_the_calendar_counts(answer, done):
    condition = BookingCondition(contact_id="c1", statuses=["booked", "accepted"], calendar_id="cal")

    verdict = condition.evaluate([[answer]])

    assert verdict.done is done
    assert verdict.value == (answer if done else None)


def test_booking_condition_round_trips_through_json_for_the_trigger():
    condition = BookingCondition(contact_id="c1", statuses=["booked"], since="2026-01-01T00:00:00+00:00")

    class_path, kwargs = condition.serialize()
    rebuilt = Condition.deserialize(class_path, json.loads(json.dumps(kwargs)))

    assert rebuilt.fetches() == condition.fetches()
    assert rebuilt.fetches()[0].params == {"since": "2026-01-01T00:00:00+00:00", "status": "booked"}


def test_booking_sensor_refuses_an_unknown_status():
    with pytest.raises(
        VotelInputError, match=r"statuses='done': is not one of \['accepted', 'booked', 'canceled'\]"
    ):
        BookingSensor(task_id="wait", contact_id="c1", statuses=["done"])


def test_booking_sensor_with_an_empty_window_fails_before_any_request(votel_sandbox, votel_connection):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"until='2026-01-01T00:00:00\+00:00': is not after since="):
        BookingSensor(task_id="wait", contact_id="c1", since="2026-01-02", until="2026-01-01").poke(
            make_context()
        )

    assert votel_sandbox.admin.stats()["requests_total"] == 0
