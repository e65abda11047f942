"""Input checks that run before the first request, each naming the field, the value and the fix.

The one home of every argument check: one E.164 phone check and one e-mail check serve every
operator, sensor and notifier, so they cannot disagree about what a valid number or address is.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import pendulum

from votel_airflow.defaults import OUTREACH_CHANNELS, POOL_SIZE, START_FROM_TRIGGER_AIRFLOW
from votel_airflow.exceptions import VotelConfigurationError, VotelInputError

#: Values quoted in an error are cut here, so a pasted document cannot flood the log.
_SHOWN = 80


@cache
def e164_pattern() -> re.Pattern[str]:
    """An E.164 phone number; compiled on first use, as every DAG parse imports this module."""
    # \Z, not $: "$" also matches before a trailing newline, which no phone number has.
    return re.compile(r"^\+[1-9]\d{6,14}\Z")


@cache
def email_pattern() -> re.Pattern[str]:
    """What passes for an e-mail address; compiled on first use, not at DAG parse time."""
    return re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


#: The channels a contact can opt out of (``dnd_channels``, contract 2026-12-b).
DND_CHANNELS = ("sms", "email", "whatsapp", "call")
#: The fix named for a bad phone number, wherever it is found.
E164_FIX = "Use the international form with '+' and country code, e.g. '+14155552671'"
#: The fix named for a number of E.164 form that no numbering plan allows.
PLAN_FIX = "Check the country code and count the digits, e.g. '+14155552671' (+1, then 10 digits)"


def is_unset(value: Any) -> bool:
    """No value: None, an empty string, or the ``"None"`` a template renders from a missing value."""
    return value is None or (isinstance(value, str) and value.strip() in ("", "None"))


def is_template(value: Any) -> bool:
    """A Jinja template, rendered only when the task runs (so not checkable at DAG parse time)."""
    return isinstance(value, str) and "{{" in value


def is_e164(value: Any) -> bool:
    """An E.164 phone number, exactly (no surrounding spaces)."""
    return isinstance(value, str) and e164_pattern().match(value) is not None


def is_email(value: Any) -> bool:
    """An e-mail address, exactly (no surrounding spaces)."""
    return isinstance(value, str) and email_pattern().match(value) is not None


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


def plan_problem(number: str) -> str | None:
    """Why no numbering plan allows this E.164 number (e.g. ``"too short for +1"``), or None.

    The check is phonenumbers' ``is_possible_number``: the country code exists and the number
    has a length its plan allows. Not ``is_valid_number``, which also wants an assigned range:
    it refuses the fictional numbers tests and examples use (UK drama numbers +447700900xxx),
    and its ranges change with every metadata release, so a send would fail after an upgrade.
    Imported here, at run time: DAG parsing never pays for phonenumbers (23 ms, its metadata).
    """
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return "no country has this calling code"
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason == phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    if reason == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        return "no country has this calling code"
    length = {
        phonenumbers.ValidationResult.TOO_SHORT: "too short",
        # dialable only from inside its area: too short for a call from anywhere
        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "too short",
        phonenumbers.ValidationResult.TOO_LONG: "too long",
    }.get(reason, "a length no plan allows")
    return f"{length} for +{parsed.country_code}"


def invalid_phone_numbers(numbers: Iterable[str]) -> list[str]:
    """The numbers that are not E.164 or that no numbering plan allows, in input order.

    For run time (a send is about to happen): the plan check loads phonenumbers.
    """
    return [number for number in numbers if not is_e164(number) or plan_problem(number) is not None]


def invalid_email_addresses(addresses: Iterable[str]) -> list[str]:
    """The addresses that are not e-mail addresses, in input order."""
    return [address for address in addresses if not is_email(address)]


def require_phone(field: str, value: Any) -> str:
    """One E.164 phone number, stripped."""
    if not isinstance(value, str) or not is_e164(value.strip()):
        raise fail(field, value, "is not an E.164 phone number", f"{E164_FIX}.")
    return value.strip()


def require_dialable(field: str, value: Any) -> str:
    """One E.164 phone number that a numbering plan allows, stripped: the run-time check before a
    send (parse time keeps the cheap pattern of :func:`require_phone`)."""
    number = require_phone(field, value)
    problem = plan_problem(number)
    if problem is not None:
        raise fail(field, number, f"no numbering plan allows this number ({problem})", PLAN_FIX)
    return number


def require_email(field: str, value: Any) -> str:
    """One e-mail address, stripped."""
    if not isinstance(value, str) or not is_email(value.strip()):
        raise fail(field, value, "is not an e-mail address", "Pass e.g. 'ada@example.com'.")
    return value.strip()


def require_e164(field: str, numbers: Sequence[str], *, skippable: bool = False) -> None:
    """Fail listing every non-E.164 number, or else every number no numbering plan allows (first
    20 shown, each with the reason), before anything is sent. For run time: see :func:`plan_problem`.

    :param field: the argument holding the numbers.
    :param numbers: the numbers to check.
    :param skippable: the caller takes ``on_invalid='skip'``, so the message offers it as a fix.
    """
    skip = ", or pass on_invalid='skip'" if skippable else ""
    bad = [number for number in numbers if not is_e164(number)]
    if bad:
        more = f" (and {len(bad) - 20} more)" if len(bad) > 20 else ""
        raise VotelInputError(
            f"{field}: {len(bad)} number(s) are not E.164: {bad[:20]}{more}. {E164_FIX}{skip}.",
            field=field,
        )
    unplanned = [f"{number} ({problem})" for number in numbers if (problem := plan_problem(number))]
    if unplanned:
        more = f" (and {len(unplanned) - 20} more)" if len(unplanned) > 20 else ""
        raise VotelInputError(
            f"{field}: {len(unplanned)} number(s) no numbering plan allows: {unplanned[:20]}{more}. "
            f"{PLAN_FIX}{skip}.",
            field=field,
        )


def as_amount(field: str, value: Any) -> Decimal:
    """A non-negative amount from a number or its text (templates render to text)."""
    if isinstance(value, bool):
        raise fail(field, value, "must be a number, not a boolean", "Pass e.g. 5 or 2.5.")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise fail(field, value, "is not a number", "Pass e.g. 5 or 2.5.") from None
    if not amount.is_finite() or amount < 0:
        raise fail(field, value, "must be a finite number of at least 0", "Pass e.g. 5 or 2.5.")
    return amount


def require_subset(field: str, value: Any, allowed: Iterable[str], *, what: str, fix: str) -> list[str]:
    """One value or a list of values, all from ``allowed``, as a sorted list without repeats.

    :param field: the argument, e.g. ``fail_on``.
    :param value: one string or an iterable of strings.
    :param allowed: the values that may be listed.
    :param what: what they are, for the message (``"terminal call statuses"``).
    :param fix: the fix to name, e.g. an example value.
    """
    choices = frozenset(allowed)
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, Iterable) else None
    if items is None or any(item not in choices for item in items):
        raise fail(field, value, f"must list {what} from {sorted(choices)}", fix)
    return sorted(set(items))


def require_flag(field: str, value: Any) -> bool:
    """A yes or no: a bool, or the ``"True"``/``"False"`` text a template renders from one."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in ("true", "false"):
        raise fail(field, value, "must be True or False", "Pass a bool.")
    return text == "true"


@cache
def _zone_names() -> frozenset[str]:
    # Read at run time only: listing the zone database walks it, which no DAG parse should pay.
    from zoneinfo import available_timezones

    return frozenset(available_timezones())


def require_timezone(field: str, value: Any) -> str:
    """An IANA time zone name, e.g. ``America/New_York``."""
    if not isinstance(value, str) or value.strip() not in _zone_names():
        raise fail(field, value, "is not an IANA time zone name", "Pass e.g. 'America/New_York'.")
    return value.strip()


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


def require_outreach_channels(field: str, value: Any) -> tuple[str, ...]:
    """One channel or a list of them, each ``sms``, ``email``, ``whatsapp`` or ``call``; at least one."""
    channels = tuple(dict.fromkeys(as_str_list(field, value)))
    if not channels:
        raise fail(field, value, "names no channel", f"Give some of {list(OUTREACH_CHANNELS)}, or None.")
    return tuple(require_choice(field, channel, OUTREACH_CHANNELS) for channel in channels)


def require_int(field: str, value: Any, *, low: int, high: int) -> int:
    """A whole number in ``[low, high]`` (bools refused: ``True`` is not a batch size)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise fail(field, value, f"must be a whole number from {low} to {high}", "Change the argument.")
    return value


def require_approval_threshold(field: str, value: Any) -> int | None:
    """``require_approval_above``: None, or a whole number of recipients from 0 up; refused on an
    Airflow without human-in-the-loop operators (3.0), where no approval could ever be given."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail(
            field, value, "must be a whole number of recipients, 0 or more",
            "Pass e.g. 500 (a send to more than 500 people then needs an approval), or None.",
        )  # fmt: skip
    from votel_airflow.compat import airflow_version, has_human_in_the_loop

    if not has_human_in_the_loop():
        raise VotelConfigurationError(
            f"{field}={value}: needs Airflow 3.1 or later (its human-in-the-loop ApprovalOperator), "
            f"but Airflow {airflow_version()} is installed, where no approval can be given. Upgrade "
            f"Airflow to 3.1+, or drop {field} and review the dry_run=True preview before the send."
        )
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


def api_instant(value: Any) -> datetime | None:
    """A timestamp the API returned (ISO 8601, ``Z`` accepted) as an aware datetime, naive taken as
    UTC; None when absent or unreadable. The API's own fields are read leniently, never refused:
    :func:`parse_instant` is for what a user gives."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def require_window(since: pendulum.DateTime, until: pendulum.DateTime) -> None:
    """``since`` must come strictly before ``until`` (the window is half-open)."""
    if until <= since:
        raise VotelInputError(
            f"until={until.isoformat()!r} is not after since={since.isoformat()!r}: the window "
            "[since, until) would be empty. Swap them or widen the window.",
            field="until",
        )


#: A duration as the outreach settings take it: a number and a unit (s, m, h, d, w).
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
DURATION_FIX = "Give a duration such as '24h', '7d', '2w' or a number of seconds"


def require_duration(field: str, value: Any) -> float:
    """A positive duration in seconds, from seconds, a timedelta or a text like ``"24h"``."""
    from datetime import timedelta

    seconds: float | None = None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", value.lower())
        if match:
            seconds = float(match[1]) * _DURATION_UNITS[match[2]]
    if seconds is None or seconds <= 0:
        raise fail(field, value, "is not a positive duration", f"{DURATION_FIX}.")
    return seconds


def require_quiet_hours(field: str, value: Any) -> tuple[int, int]:
    """A quiet window ``"HH:MM-HH:MM"`` (local time, may cross midnight) as minutes after midnight."""
    match = (
        re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
        if isinstance(value, str)
        else None
    )
    if match:
        start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
        if (
            start_h < 24
            and end_h < 24
            and start_m < 60
            and end_m < 60
            and (start_h, start_m) != (end_h, end_m)
        ):
            return start_h * 60 + start_m, end_h * 60 + end_m
    raise fail(
        field, value, "is not a quiet-hours window",
        "Give local start and end as 'HH:MM-HH:MM', e.g. '21:00-08:00' (it may cross midnight), "
        "or None (on the connection: \"off\") for no quiet hours.",
    )  # fmt: skip


def require_max_per_recipient(field: str, value: Any) -> tuple[int, float]:
    """A frequency cap ``(count, period)``: at most ``count`` sends per recipient in ``period``."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        count, period = value
        if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
            return count, require_duration(f"{field} period", period)
    raise fail(
        field, value, "is not a (count, period) cap",
        "Give e.g. (1, '24h'): at most one send per person and channel a day; None for no cap.",
    )  # fmt: skip


def known_conn_type(conn_id: str) -> str | None:
    """The type of connection ``conn_id`` when it is known without a request, else None.

    Only an ``AIRFLOW_CONN_<ID>`` environment variable (a URI or JSON) is read: a DAG file is parsed
    often, and asking a secrets backend or the API server on every parse costs a request each.
    """
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not raw:
        return None
    if raw.lstrip().startswith("{"):
        try:
            conn_type = json.loads(raw).get("conn_type")
        except (ValueError, AttributeError):
            return None
        return conn_type if isinstance(conn_type, str) else None
    scheme, sep, _ = raw.partition("://")
    # Airflow reads a URI's scheme with dashes as underscores (google-cloud-platform).
    return scheme.replace("-", "_") if sep else None


def require_votel_connection(field: str, conn_id: Any) -> None:
    """Refuse a connection id that is known (from the environment) to be of another type."""
    if is_template(conn_id):
        return
    if not isinstance(conn_id, str) or not conn_id:
        raise fail(field, conn_id, "must be a connection id", "Name an Airflow connection of type votel.")
    conn_type = known_conn_type(conn_id)
    if conn_type is not None and conn_type != "votel":
        raise fail(
            field,
            conn_id,
            f"is a connection of type {conn_type!r}, not 'votel'",
            "Name a connection of type votel (host: the API's base URL, password: the API key).",
        )


def require_start_from_trigger(task: str, airflow: str | None) -> None:
    """Refuse ``start_from_trigger`` before Airflow 3.3, whose scheduler and triggerer cannot start it.

    Before 3.3 a started trigger gets the arguments the DAG file fixed, unrendered, so a templated
    ``call_id`` (the usual case: the id an upstream task returned) would reach the API as a
    template. ``airflow`` is the installed Airflow's version (None: unknown, allowed).
    """
    if airflow is None:
        return
    try:
        minor = tuple(int(part) for part in airflow.split(".")[:2])
    except ValueError:
        return
    if minor < START_FROM_TRIGGER_AIRFLOW:
        raise fail(
            "start_from_trigger",
            True,
            f"{task} can start its wait in the triggerer only on Airflow 3.3 or later (this is Airflow "
            f"{airflow}, whose triggerer does not render the templated call_id)",
            "Upgrade to Airflow 3.3, or drop start_from_trigger and use deferrable=True with "
            "end_from_trigger=True: the wait then starts on a worker and still ends in the triggerer",
        )


def require_triggerer_template(field: str, value: Any) -> Any:
    """A template the 3.3 triggerer can render: an ``xcom_pull`` in it names its ``map_indexes``.

    ``xcom_pull`` without ``map_indexes`` asks for every map index of the task, a request Airflow
    3.3's triggerer does not serve (its supervisor rejects ``GetXComSequenceSlice``), so the wait
    would fail when it starts; ``map_indexes=-1`` asks for the one value of an unmapped task.
    """
    if is_template(value) and "xcom_pull" in value and "map_indexes" not in value:
        raise fail(
            field,
            value,
            "with start_from_trigger the triggerer renders this template, and Airflow 3.3's triggerer "
            "cannot serve an xcom_pull without map_indexes",
            "Pull the unmapped task's value with map_indexes=-1, e.g. "
            "\"{{ ti.xcom_pull('start_call', map_indexes=-1)['id'] }}\"",
        )
    return value
