"""Input checks: each names the field and the value, says what to do, and fails without retries."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pendulum
import pytest

from votel_airflow.exceptions import VotelInputError
from votel_airflow.validation import (
    as_str_list,
    fail,
    invalid_email_addresses,
    invalid_phone_numbers,
    parse_instant,
    plan_problem,
    require_choice,
    require_dialable,
    require_e164,
    require_email,
    require_id,
    require_int,
    require_text,
    require_window,
    shown,
)


def test_fail_names_field_value_problem_and_fix() -> None:
    error = fail("batch_size", 0, "must be positive", "Use 1 to 500.")
    assert str(error) == "batch_size=0: must be positive. Use 1 to 500."
    assert error.field == "batch_size"


def test_long_values_are_cut_in_messages() -> None:
    text = shown("x" * 500)
    assert len(text) == 80
    assert text.endswith("...")


@pytest.mark.parametrize("value", ["+14155552671", "+442071838750", "+8613800138000"])
def test_e164_numbers_pass(value: str) -> None:
    assert invalid_phone_numbers([value]) == []


@pytest.mark.parametrize(
    "value",
    ["14155552671", "+04155552671", "+1 415 555 2671", "+1415", "+1234567890123456", "+14155552671\n"],
)
def test_non_e164_numbers_are_found(value: str) -> None:
    assert invalid_phone_numbers([value]) == [value]


def test_require_e164_lists_every_bad_number_and_the_fix() -> None:
    with pytest.raises(VotelInputError) as info:
        require_e164("to", ["+14155552671", "555-1234", "0044 20"], skippable=True)
    assert "2 number(s) are not E.164: ['555-1234', '0044 20']" in str(info.value)
    assert "'+14155552671'" in str(info.value)
    assert "on_invalid='skip'" in str(info.value)
    assert info.value.field == "to"


#: E.164 in form, but no numbering plan allows them: a digit short or long, a calling code of nobody.
UNPLANNED = {
    "+1415555010": "too short for +1",
    "+141555501011": "too long for +1",
    "+44770090012345": "too long for +44",
    "+99912345678": "no country has this calling code",
}


@pytest.mark.parametrize(
    "value",
    # The suite's own numbers: US 555-01xx fictional ones, UK drama ones, the seed's random ones
    # (which is_valid_number would refuse: it wants assigned ranges).
    ["+14155550101", "+12125550100", "+447700900123", "+16460123456", "+8613800138000"],
)
def test_numbers_some_plan_allows_pass_the_run_time_check(value: str) -> None:
    assert plan_problem(value) is None
    assert invalid_phone_numbers([value]) == []
    assert require_dialable("to", value) == value


@pytest.mark.parametrize(("value", "problem"), UNPLANNED.items())
def test_a_number_no_plan_allows_is_found_with_the_reason(value: str, problem: str) -> None:
    assert plan_problem(value) == problem
    assert invalid_phone_numbers(["+14155550101", value]) == [value]
    with pytest.raises(VotelInputError) as info:
        require_dialable("from_number", value)
    assert str(info.value).startswith(
        f"from_number='{value}': no numbering plan allows this number ({problem})"
    )
    assert info.value.field == "from_number"


def test_require_e164_names_every_number_no_plan_allows_with_its_reason() -> None:
    with pytest.raises(VotelInputError) as info:
        require_e164("phone", ["+14155550101", *UNPLANNED])
    message = str(info.value)
    assert message.startswith(
        "phone: 4 number(s) no numbering plan allows: ['+1415555010 (too short for +1)'"
    )
    assert "'+99912345678 (no country has this calling code)'" in message
    assert info.value.field == "phone"


def test_require_e164_offers_on_invalid_only_to_callers_that_take_it() -> None:
    # CreateContactOperator has no on_invalid argument: naming it would send the user astray.
    with pytest.raises(VotelInputError) as info:
        require_e164("phone", ["555-1234"])
    assert "e.g. '+14155552671'" in str(info.value)
    assert "on_invalid" not in str(info.value)


@pytest.mark.parametrize("value", ["ada@example.com", "a.b+c@mail.example.org"])
def test_e_mail_addresses_pass(value: str) -> None:
    assert require_email("email", f" {value} ") == value
    assert invalid_email_addresses([value]) == []


@pytest.mark.parametrize("value", ["ada", "ada@", "ada@example", "a da@example.com", "@example.com", 7])
def test_non_e_mail_addresses_are_refused_by_the_one_check(value: object) -> None:
    with pytest.raises(VotelInputError, match=r"email=.*: is not an e-mail address"):
        require_email("email", value)


def test_require_e164_shows_at_most_twenty_numbers() -> None:
    with pytest.raises(VotelInputError, match=r"\(and 5 more\)"):
        require_e164("to", [f"bad{i}" for i in range(25)])


def test_as_str_list_accepts_one_string_or_an_iterable() -> None:
    assert as_str_list("to", " +14155552671 ") == ["+14155552671"]
    assert as_str_list("to", (n for n in ["a", "b"])) == ["a", "b"]


@pytest.mark.parametrize("value", [None, 5, {"a": 1}, b"bytes"])
def test_as_str_list_refuses_other_types(value: Any) -> None:
    with pytest.raises(VotelInputError, match="must be a string or a list of strings"):
        as_str_list("to", value)


def test_as_str_list_refuses_empty_items() -> None:
    with pytest.raises(VotelInputError, match="contains empty or non-string items"):
        as_str_list("contact_ids", ["c-1", "", None])


def test_require_text_refuses_blank_and_too_long() -> None:
    assert require_text("body", "Hi", max_length=10) == "Hi"
    with pytest.raises(VotelInputError, match="must be a non-empty string"):
        require_text("body", "  ", max_length=10)
    with pytest.raises(VotelInputError, match="is 11 characters, over the limit of 10"):
        require_text("body", "x" * 11, max_length=10)


def test_require_choice() -> None:
    assert require_choice("channel", "sms", {"sms", "email"}) == "sms"
    with pytest.raises(VotelInputError, match=r"is not one of \['email', 'sms'\]"):
        require_choice("channel", "fax", {"sms", "email"})


@pytest.mark.parametrize("value", [True, 0, 501, 2.0, "5"])
def test_require_int_refuses_bools_floats_strings_and_out_of_range(value: Any) -> None:
    with pytest.raises(VotelInputError, match="must be a whole number from 1 to 500"):
        require_int("batch_size", value, low=1, high=500)


def test_require_id() -> None:
    assert require_id("workflow_id", " w-1 ") == "w-1"
    with pytest.raises(VotelInputError, match="non-empty id string"):
        require_id("workflow_id", "")


def test_parse_instant_reads_iso_strings_and_datetimes_as_utc() -> None:
    assert parse_instant("since", "2026-11-01T02:00:00+02:00") == pendulum.datetime(2026, 11, 1, tz="UTC")
    assert parse_instant("since", "2026-11-01T00:00:00") == pendulum.datetime(2026, 11, 1, tz="UTC")
    naive = datetime(2026, 11, 1, 0, 0)
    assert parse_instant("since", naive) == pendulum.datetime(2026, 11, 1, tz="UTC")
    aware = datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc)
    assert parse_instant("since", aware).tzinfo is not None


@pytest.mark.parametrize("value", ["yesterday", "", None, 12, "P1D"])
def test_parse_instant_refuses_what_is_not_a_date_time(value: Any) -> None:
    with pytest.raises(VotelInputError) as info:
        parse_instant("since", value)
    assert str(info.value).startswith("since=")


def test_require_window_refuses_an_empty_window() -> None:
    day = pendulum.datetime(2026, 11, 1, tz="UTC")
    require_window(day, day.add(days=1))
    with pytest.raises(VotelInputError, match=r"the window \[since, until\) would be empty"):
        require_window(day, day)
