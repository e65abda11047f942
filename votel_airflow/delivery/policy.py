"""The outreach policy: the rules a send applies before its first request, resolved once.

Each setting comes from the operator's (or verb's) argument, else the connection extra of the
same name, else the default in :mod:`votel_airflow.defaults`; every value is checked here,
before any request, and a bad one names the argument, the value and a fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from votel_airflow.defaults import (
    ANY_CHANNEL,
    DEFAULT_OPT_OUT_LOOKBACK,
    DEFAULT_QUIET_HOURS,
    ON_QUIET_HOURS,
)
from votel_airflow.validation import (
    fail,
    require_choice,
    require_duration,
    require_max_per_recipient,
    require_outreach_channels,
    require_quiet_hours,
    require_timezone,
)

#: An argument left to the connection extra (and then to the default). ``None`` means "off".
FROM_CONNECTION = "from_connection"
#: The value of an extra that turns a rule off explicitly.
OFF = "off"


@dataclass(frozen=True)
class OutreachPolicy:
    """The rules one send applies.

    :param channel: ``sms``, ``email``, ``whatsapp`` or ``call``.
    :param quiet_hours: the local quiet window as minutes after midnight ``(start, end)``; None: none.
    :param on_quiet_hours: ``defer``, ``skip`` or ``fail`` for recipients inside their quiet hours.
    :param max_per_recipient: ``(count, period in seconds)``: a frequency cap per channel; None: none.
    :param opt_out_lookback: seconds of inbound replies read for STOP keywords.
    :param suppression_list: a local path or object-storage URL of numbers and addresses never reached.
    :param default_timezone: the zone of a recipient whose zone cannot be known; None: skip them.
    :param transactional: a one-time code, a receipt, a page: any hour and past caps, never past an opt-out.
    """

    channel: str
    quiet_hours: tuple[int, int] | None = None
    on_quiet_hours: str = "defer"
    max_per_recipient: tuple[int, float] | None = None
    opt_out_lookback: float = DEFAULT_OPT_OUT_LOOKBACK
    suppression_list: str | None = None
    default_timezone: str | None = None
    transactional: bool = False


def _pick(argument: Any, extras: Mapping[str, Any], name: str, default: Any) -> tuple[str, Any]:
    """``(where the value came from, value)``: the argument, else the extra, else the default."""
    if argument != FROM_CONNECTION:
        return name, argument
    if name in extras and extras[name] not in (None, ""):
        return f"connection extra {name}", extras[name]
    return name, default


def check_policy_arguments(
    *,
    quiet_hours: Any = FROM_CONNECTION,
    on_quiet_hours: Any = FROM_CONNECTION,
    max_per_recipient: Any = FROM_CONNECTION,
    opt_out_lookback: Any = FROM_CONNECTION,
    default_timezone: Any = FROM_CONNECTION,
) -> None:
    """Check what an operator was given, when its DAG is parsed (templates are left for the run)."""
    resolve_policy(
        "sms", {}, quiet_hours=quiet_hours, on_quiet_hours=on_quiet_hours,
        max_per_recipient=max_per_recipient, opt_out_lookback=opt_out_lookback,
        default_timezone=default_timezone,
    )  # fmt: skip


def resolve_policy(
    channel: str,
    extras: Mapping[str, Any],
    *,
    quiet_hours: Any = FROM_CONNECTION,
    on_quiet_hours: Any = FROM_CONNECTION,
    max_per_recipient: Any = FROM_CONNECTION,
    opt_out_lookback: Any = FROM_CONNECTION,
    suppression_list: Any = FROM_CONNECTION,
    default_timezone: Any = FROM_CONNECTION,
    transactional: bool = False,
) -> OutreachPolicy:
    """The policy of one send on ``channel``, arguments over connection ``extras`` over defaults.

    :param channel: the channel sent on; it picks the default quiet hours.
    :param extras: the connection's outreach extras (``ConnectionSettings.outreach``).
    :param transactional: go at any hour and past frequency caps (never past an opt-out).
    """
    field, value = _pick(quiet_hours, extras, "quiet_hours", DEFAULT_QUIET_HOURS.get(channel))
    window = None if value is None or value == OFF else require_quiet_hours(field, value)
    field, value = _pick(on_quiet_hours, extras, "on_quiet_hours", "defer")
    on_quiet = require_choice(field, value, ON_QUIET_HOURS)
    field, value = _pick(max_per_recipient, extras, "max_per_recipient", None)
    cap = None if value is None or value == OFF else require_max_per_recipient(field, value)
    field, value = _pick(opt_out_lookback, extras, "opt_out_lookback", DEFAULT_OPT_OUT_LOOKBACK)
    lookback = require_duration(field, value)
    field, value = _pick(suppression_list, extras, "suppression_list", None)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise fail(field, value, "is not a path", "Give a local path or an object-storage URL, or None.")
    suppression = value.strip() if isinstance(value, str) else None
    field, value = _pick(default_timezone, extras, "default_timezone", None)
    zone = None if value is None else require_timezone(field, value)
    if transactional:
        # Transactional messages are expected at any hour and however many came before; an
        # opt-out still holds (see the module docstring of screening).
        window, cap = None, None
    return OutreachPolicy(
        channel=channel,
        quiet_hours=window,
        on_quiet_hours=on_quiet,
        max_per_recipient=cap,
        opt_out_lookback=lookback,
        suppression_list=suppression,
        default_timezone=zone,
        transactional=bool(transactional),
    )


def enrollment_policies(
    extras: Mapping[str, Any],
    channels: Any = None,
    *,
    suppression_list: Any = FROM_CONNECTION,
) -> list[OutreachPolicy]:
    """The policies an enrollment is screened with: opt-outs and the suppression list only.

    Quiet hours and caps are left to when the workflow sends (an enrollment reaches nobody at
    once, and its channels and times are the workflow's). One policy per channel in ``channels``
    (their ``dnd_channels``, and STOP replies for ``sms``), else one that honours ``dnd`` alone.

    :param extras: the connection's outreach extras.
    :param channels: the channels the workflow reaches people on; None: not known.
    :param suppression_list: the argument, else the connection extra.
    """
    named = require_outreach_channels("channels", channels) if channels is not None else ()
    return [
        resolve_policy(
            channel, extras, quiet_hours=None, max_per_recipient=None, suppression_list=suppression_list
        )
        for channel in (named or (ANY_CHANNEL,))
    ]
