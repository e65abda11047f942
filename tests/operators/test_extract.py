"""The shared extract base: window resolution, filter checks and query shape (no network)."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest

from tests.support import make_context
from votel_airflow.exceptions import VotelInputError
from votel_airflow.operators.extract import VotelExtractOperator, resolve_window

START = pendulum.datetime(2026, 11, 1, tz="UTC")
END = pendulum.datetime(2026, 11, 2, tz="UTC")


class BookingsLike(VotelExtractOperator):
    """An extractor whose endpoint names its window ``start``/``end`` and filters ``status``.

    :param destination: file to write.
    """

    endpoint = "/bookings"
    filter_names = frozenset({"status", "calendar_id"})
    filter_choices = {"status": frozenset({"accepted", "canceled"})}
    window_params = ("start", "end")


@pytest.mark.parametrize("unset", [None, "", "None"])
def test_unset_bounds_default_to_the_data_interval(unset: Any) -> None:
    since, until = resolve_window(make_context(), unset, unset)

    assert (since, until) == (START, END)


def test_explicit_bounds_win_over_the_data_interval_and_become_utc() -> None:
    since, until = resolve_window(make_context(), "2026-10-01T02:00:00+02:00", "2026-10-02")

    assert since == pendulum.datetime(2026, 10, 1, tz="UTC")
    assert until == pendulum.datetime(2026, 10, 2, tz="UTC")
    assert since.timezone_name == "UTC"


def test_a_run_without_data_interval_needs_explicit_bounds() -> None:
    context = make_context(data_interval_start=None, data_interval_end=None)

    with pytest.raises(
        VotelInputError, match="since=None: is not set and the run has no data_interval_start"
    ):
        resolve_window(context, None, None)


def test_an_empty_window_is_refused_naming_until() -> None:
    with pytest.raises(VotelInputError) as info:
        resolve_window(make_context(), "2026-11-02T00:00:00Z", "2026-11-02T00:00:00Z")

    assert info.value.field == "until"


def test_query_uses_the_endpoint_window_names_and_keeps_filters() -> None:
    op = BookingsLike(task_id="b", destination="/tmp/b.jsonl", filters={"status": "accepted"})

    assert op.query(START, END) == {
        "status": "accepted",
        "start": START.isoformat(),
        "end": END.isoformat(),
    }


def test_a_filter_value_outside_its_choices_is_refused() -> None:
    op = BookingsLike(task_id="b", destination="/tmp/b.jsonl", filters={"status": "acepted"})

    with pytest.raises(VotelInputError, match="filters\\['status'\\]='acepted': is not one of"):
        op.query(START, END)


def test_a_filter_without_fixed_choices_takes_any_value() -> None:
    op = BookingsLike(task_id="b", destination="/tmp/b.jsonl", filters={"calendar_id": "cal-9"})

    assert op.query(START, END)["calendar_id"] == "cal-9"


def test_a_page_size_over_the_api_maximum_is_refused_at_parse() -> None:
    with pytest.raises(VotelInputError, match="page_size=501"):
        BookingsLike(task_id="b", destination="/tmp/b.jsonl", page_size=501)
