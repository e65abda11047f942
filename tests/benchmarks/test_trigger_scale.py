"""The trigger-scale benchmark dials numbers that stay distinct and valid at every size it runs."""

from __future__ import annotations

import phonenumbers
import pytest

from benchmarks.trigger_scale import MAX_CALLS, call_number
from votel_airflow.sandbox.lifecycle import call_end


def test_every_call_of_the_largest_run_dials_a_number_of_its_own() -> None:
    numbers = [call_number(n) for n in range(MAX_CALLS)]

    assert len(set(numbers)) == MAX_CALLS


def test_every_call_of_the_largest_run_ends_completed_in_the_sandbox() -> None:
    ends = {call_end(call_number(n))[0] for n in range(MAX_CALLS)}

    assert ends == {"completed"}


@pytest.mark.parametrize("n", [0, 5_999, 6_000, 9_999, 10_000, 54_321, MAX_CALLS - 1])
def test_call_numbers_are_valid_e164_numbers_at_every_scale(n: int) -> None:
    number = call_number(n)
    parsed = phonenumbers.parse(number, None)

    assert phonenumbers.is_valid_number(parsed)
    assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number


def test_a_run_larger_than_the_numbers_it_can_dial_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 100000 calls"):
        call_number(MAX_CALLS)
