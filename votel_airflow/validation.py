"""Input checks that run before the first request, each naming the field, the value and the fix."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import pendulum

from votel_airflow.exceptions import VotelInputError
from votel_airflow.limits import POOL_SIZE

#: Values quoted in an error are cut here, so a pasted document cannot flood the log.
_SHOWN = 80


@cache
def e164_pattern() -> re.Pattern[str]:
    """An E.164 phone number; compiled on first use, as every DAG parse imports this module."""
    # \Z, not $: "$" also matches before a trailing newline, which no phone number has.
    return re.compile(r"^\+[1-9]\d{6,14}\Z")


def shown(value: Any) -> str:
    """A short repr of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def fail(field: str, value: Any, problem: str, fix: str) -> VotelInputError:
    """Build the standard bad-input error: ``field=value: problem. fix``."""
    return VotelInputError(f"{field}={shown(value)}: {problem}. {fix}", field=field)


def as_str_list(field: str, value: Any) -> list[str]:
    """One string or an iterable of strings (an XComArg's resolved list included) as a list."""
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        items = list(value)
    else:
        raise fail(field, value, "must be a string or a list of strings", "Pass e.g. ['+14155552671'].")
    bad = [item for item in items if not isinstance(item, str) or not item.strip()]
    if bad:
        raise fail(field, bad[:5], "contains empty or non-string items", "Remove them or map them first.")
    return [item.strip() for item in items]


def invalid_phone_numbers(numbers: Iterable[str]) -> list[str]:
    """The numbers that are not E.164, in input order."""
    return [number for number in numbers if not e164_pattern().match(number)]


def require_e164(field: str, numbers: Sequence[str]) -> None:
    """Fail listing every non-E.164 number (first 20 shown) before anything is sent."""
    bad = invalid_phone_numbers(numbers)
    if bad:
        more = f" (and {len(bad) - 20} more)" if len(bad) > 20 else ""
        raise VotelInputError(
            f"{field}: {len(bad)} number(s) are not E.164: {bad[:20]}{more}. Use the international "
            "form with '+' and country code, e.g. '+14155552671', or pass on_invalid='skip'.",
            field=field,
        )


def require_text(field: str, value: Any, *, max_length: int) -> str:
    """A non-blank string no longer than ``max_length`` characters."""
    if not isinstance(value, str) or not value.strip():
        raise fail(field, value, "must be a non-empty string", "Give the text to send.")
    if len(value) > max_length:
        raise fail(field, value, f"is {len(value)} characters, over the limit of {max_length}", "Shorten it.")
    return value


def require_choice(field: str, value: Any, choices: Iterable[str]) -> str:
    """One of the allowed values."""
    allowed = sorted(choices)
    if value not in allowed:
        raise fail(field, value, f"is not one of {allowed}", f"Use one of {allowed}.")
    return str(value)


def require_int(field: str, value: Any, *, low: int, high: int) -> int:
    """A whole number in ``[low, high]`` (bools refused: ``True`` is not a batch size)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise fail(field, value, f"must be a whole number from {low} to {high}", "Change the argument.")
    return value


def check_max_concurrency(value: Any) -> int:
    """``max_concurrency`` as a whole number the hook's connection pool can serve."""
    return require_int("max_concurrency", value, low=1, high=POOL_SIZE)


def check_rate_limit(value: Any) -> float | None:
    """``rate_limit`` as a positive number of requests per second, or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise fail("rate_limit", value, "must be a positive number of requests per second", "E.g. 10.")
    return float(value)


def require_id(field: str, value: Any) -> str:
    """A non-blank id string."""
    if not isinstance(value, str) or not value.strip():
        raise fail(field, value, "must be a non-empty id string", "Pass the object's id from Votel.")
    return value.strip()


def parse_instant(field: str, value: Any) -> pendulum.DateTime:
    """An ISO 8601 string or a datetime, as an aware UTC instant (naive input is taken as UTC)."""
    if isinstance(value, datetime):
        moment = pendulum.instance(value, tz="UTC")
    elif isinstance(value, str) and value.strip():
        try:
            parsed = pendulum.parse(value.strip(), tz="UTC")
        except (ValueError, pendulum.parsing.exceptions.ParserError):
            raise fail(
                field, value, "is not an ISO 8601 date-time", "Use e.g. '2026-11-01T00:00:00Z'."
            ) from None
        if not isinstance(parsed, pendulum.DateTime):
            raise fail(field, value, "is a date or a duration, not a date-time", "Add a time.")
        moment = parsed
    else:
        raise fail(
            field, value, "must be an ISO 8601 string or a datetime", "Use e.g. '2026-11-01T00:00:00Z'."
        )
    return moment.in_timezone("UTC")


def require_window(since: pendulum.DateTime, until: pendulum.DateTime) -> None:
    """``since`` must come strictly before ``until`` (the window is half-open)."""
    if until <= since:
        raise VotelInputError(
            f"until={until.isoformat()!r} is not after since={since.isoformat()!r}: the window "
            "[since, until) would be empty. Swap them or widen the window.",
            field="until",
        )
