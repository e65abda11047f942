"""The outreach policy's settings: arguments over connection extras over defaults, and bad input
refused before any request, naming the argument and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from votel_airflow.delivery.policy import resolve_policy
from votel_airflow.delivery.suppression import read_suppression_list
from votel_airflow.exceptions import VotelInputError
from votel_airflow.operators.communication import SendSmsOperator


def test_sms_gets_quiet_hours_from_nine_pm_to_eight_am_and_email_none_by_default() -> None:
    assert resolve_policy("sms", {}).quiet_hours == (21 * 60, 8 * 60)
    assert resolve_policy("email", {}).quiet_hours is None


def test_the_argument_wins_over_the_extra_which_wins_over_the_default() -> None:
    extras = {"quiet_hours": "22:00-07:30", "max_per_recipient": [2, "7d"], "opt_out_lookback": "30d"}
    from_extra = resolve_policy("sms", extras)
    assert from_extra.quiet_hours == (22 * 60, 7 * 60 + 30)
    assert from_extra.max_per_recipient == (2, 7 * 86_400)
    assert from_extra.opt_out_lookback == 30 * 86_400
    assert resolve_policy("sms", extras, quiet_hours="20:00-09:00").quiet_hours == (20 * 60, 9 * 60)


def test_none_on_the_operator_or_off_in_the_extra_turns_quiet_hours_off() -> None:
    assert resolve_policy("sms", {}, quiet_hours=None).quiet_hours is None
    assert resolve_policy("sms", {"quiet_hours": "off"}).quiet_hours is None


def test_transactional_goes_at_any_hour_and_past_caps() -> None:
    policy = resolve_policy("sms", {"max_per_recipient": [1, "1d"]}, transactional=True)
    assert (policy.quiet_hours, policy.max_per_recipient) == (None, None)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"quiet_hours": "9pm-8am"}, "quiet_hours"),
        ({"quiet_hours": "21:00-21:00"}, "quiet_hours"),
        ({"on_quiet_hours": "later"}, "on_quiet_hours"),
        ({"max_per_recipient": (1, "a day")}, "max_per_recipient period"),
        ({"max_per_recipient": 3}, "max_per_recipient"),
        ({"opt_out_lookback": "-5d"}, "opt_out_lookback"),
        ({"default_timezone": "Mars/Olympus"}, "default_timezone"),
    ],
)
def test_bad_settings_fail_when_the_dag_is_parsed_naming_the_argument(arguments: dict, field: str) -> None:
    with pytest.raises(VotelInputError) as info:
        SendSmsOperator(task_id="sms", to="+14155550100", body="Hi", **arguments)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}=")


def test_a_bad_connection_extra_is_named_as_the_extra() -> None:
    with pytest.raises(VotelInputError, match="connection extra quiet_hours="):
        resolve_policy("sms", {"quiet_hours": "late"})


def test_a_suppression_line_that_is_no_number_nor_address_is_reported_with_its_line_number(
    tmp_path: Path,
) -> None:
    listed = tmp_path / "suppressed.txt"
    listed.write_text("# do not contact\n+14155550100\n\nAda@Example.com  # asked twice\n415-555-0101\n")
    with pytest.raises(VotelInputError, match=r"line 5 \('415-555-0101'\)"):
        read_suppression_list(str(listed))


def test_a_suppression_list_keeps_numbers_and_addresses_and_ignores_comments(tmp_path: Path) -> None:
    listed = tmp_path / "suppressed.txt"
    listed.write_text("# do not contact\n+14155550100\n\nAda@Example.com  # asked twice\n")
    assert read_suppression_list(str(listed)) == {"+14155550100", "ada@example.com"}


def test_an_unreadable_suppression_list_fails_naming_the_argument(tmp_path: Path) -> None:
    with pytest.raises(VotelInputError, match=r"suppression_list=.*cannot be read"):
        read_suppression_list(str(tmp_path / "missing.txt"))
