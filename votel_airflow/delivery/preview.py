"""The preview of a send (``dry_run=True``): what each person would get, and nothing sent.

A sender in dry-run screens its recipients exactly as a real send does (the same reads, the same
rules, the same clock), builds each recipient's request exactly as a real send would (so the
message is the one the API would receive), and stops there: no request that reaches a person.

Contract
--------
Rows, one per recipient in input order (duplicates once)
    ``recipient``, ``channel``, ``subject`` (e-mail), ``message`` (the rendered body; for an
    e-mail template its id and variables, which the API fills in), ``local_time`` (the instant
    judged, in each of the recipient's zones, or None when no zone is known), ``segments`` (SMS and
    WhatsApp), ``estimated_cost``, ``skip_reason`` (one of
    :data:`~votel_airflow.defaults.SKIP_REASONS`, ``"invalid"``, or None when it would be sent) and
    ``sends_at`` (for a recipient inside quiet hours whom the send would defer: when the window
    opens). Written to ``results_destination`` (JSON Lines, gzip'd JSON Lines or Parquet, by the
    file's suffix; local or object storage, atomically), else to the task log as a table of at
    most :data:`~votel_airflow.defaults.PREVIEW_LOG_ROWS` rows and a count of the rest.
Totals (the task's XCom return value)
    ``{"dry_run": True, "channel", "requested", "duplicates", "recipients", "would_send",
    "waiting", "skipped": {reason: count}, "skipped_invalid", "segments", "estimated_cost",
    "next_opening", "preview_uri"}``. ``would_send`` counts those reached now, ``waiting`` those the
    send would reach when their quiet hours end; ``segments`` and ``estimated_cost`` cover both.
Cost
    The contract names no prices; :data:`~votel_airflow.defaults.ESTIMATED_PRICES` holds the
    sandbox's. An SMS is counted in segments as carriers bill it: GSM-7 text 160 characters, or 153
    per part when split (``^{}[]~|€\\`` and form feed take two); any other character makes the
    whole message UCS-2, 70 code units, or 67 per part (an emoji outside the BMP takes two).
Secrets
    Only recipients and message text are written, through Airflow's secrets masker: a secret the
    task knows (a connection's password, a masked variable) shows as ``***``, as in the task log.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from votel_airflow.defaults import ESTIMATED_PRICES, PREVIEW_LOG_ROWS, SKIP_REASONS
from votel_airflow.delivery.screening import Screening

#: The GSM 03.38 default alphabet, and its extension table (each of those takes two septets).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
#: Channels billed per segment.
SEGMENTED = ("sms", "whatsapp")
#: Rows written per page to the destination.
PAGE_ROWS = 1000
#: The reason a preview row gives for an input that failed validation (``on_invalid="skip"``).
INVALID = "invalid"


def sms_segments(text: str) -> int:
    """How many segments a carrier bills ``text`` as (see the module's "Cost")."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        units = sum(2 if c in GSM_EXTENDED else 1 for c in text)
        single, part = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else math.ceil(units / part)


def estimate(channel: str, message: str | None) -> tuple[int | None, Decimal]:
    """``(segments, estimated cost)`` of one message on ``channel`` (segments None off SMS/WhatsApp)."""
    price = Decimal(ESTIMATED_PRICES.get(channel, "0"))
    if channel in SEGMENTED:
        segments = sms_segments(message or "")
        return segments, price * segments
    return None, price


def message_of(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(subject, message)`` of a request body, as the API would get it."""
    subject = body.get("subject")
    for field in ("body", "text", "html"):
        if body.get(field):
            return subject, str(body[field])
    if body.get("template_id"):
        return subject, f"template {body['template_id']} with variables {dict(body.get('variables') or {})}"
    return subject, None


def local_times(zones: Sequence[Any], moment: datetime) -> str | None:
    """``moment`` in each zone, ``"2026-06-14T23:00:00-07:00 (America/Los_Angeles)"``; None if none."""
    if not zones:
        return None
    return "; ".join(f"{moment.astimezone(zone).isoformat()} ({zone.key})" for zone in zones)


def preview_rows(
    recipients: Sequence[str],
    invalid: Sequence[str],
    screening: Screening,
    build: Callable[[str], Any],
    *,
    channel: str,
    moment: datetime,
) -> Iterator[dict[str, Any]]:
    """One row per recipient (see the module's "Rows"); ``build`` makes its request, unsent."""
    reasons = {r: reason for reason in SKIP_REASONS for r in screening.skipped[reason]}
    for recipient in dict.fromkeys(recipients):
        subject, message = message_of(build(recipient).json)
        reason = reasons.get(recipient)
        waiting_until = screening.waiting.get(recipient)
        segments, cost = estimate(channel, message)
        yield {
            "recipient": recipient,
            "channel": channel,
            "subject": subject,
            "message": message,
            "local_time": local_times(screening.zones.get(recipient, ()), moment),
            "segments": segments,
            # Skipped people cost nothing; those who wait are sent later, so they count.
            "estimated_cost": None if reason else float(cost),
            "skip_reason": "quiet_hours" if waiting_until else reason,
            "sends_at": waiting_until.isoformat() if waiting_until else None,
        }
    for item in dict.fromkeys(invalid):
        yield {
            "recipient": item, "channel": channel, "subject": None, "message": None,
            "local_time": None, "segments": None, "estimated_cost": None,
            "skip_reason": INVALID, "sends_at": None,
        }  # fmt: skip


def redacted(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every secret the task knows masked, as Airflow masks its logs."""
    from votel_airflow.compat import redact

    return {name: redact(value) for name, value in row.items()}


class Totals:
    """The preview's counts, added up row by row (see the module's "Totals")."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.recipients = 0
        self.would_send = 0
        self.waiting = 0
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)
        self.invalid = 0
        self.segments = 0
        self.cost = Decimal(0)

    def add(self, row: Mapping[str, Any]) -> None:
        self.recipients += 1
        reason = row["skip_reason"]
        if reason == INVALID:
            self.invalid += 1
            return
        if row["sends_at"] is not None:
            self.waiting += 1
        elif reason is not None:
            self.skipped[reason] += 1
            return
        else:
            self.would_send += 1
        self.segments += row["segments"] or 0
        self.cost += Decimal(str(row["estimated_cost"] or 0))

    def summary(
        self, requested: int, duplicates: int, screening: Screening, uri: str | None
    ) -> dict[str, Any]:
        opening = screening.next_opening
        return {
            "dry_run": True,
            "channel": self.channel,
            "requested": requested,
            "duplicates": duplicates,
            "recipients": self.recipients,
            "would_send": self.would_send,
            "waiting": self.waiting,
            "skipped": dict(self.skipped),
            "skipped_invalid": self.invalid,
            "segments": self.segments if self.channel in SEGMENTED else None,
            "estimated_cost": float(self.cost),
            "next_opening": opening.isoformat() if opening is not None else None,
            "preview_uri": uri,
        }


def preview_format(destination: Any) -> str:
    """The file format a preview destination's name asks for: Parquet, gzip'd or plain JSON Lines."""
    name = str(destination).lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".gz"):
        return "jsonl.gz"
    return "jsonl"


def write_preview(destination: Any, rows: Iterator[dict[str, Any]], totals: Totals) -> str:
    """Write ``rows`` (counted into ``totals``) to ``destination`` atomically; return its URI."""
    from votel_airflow.destinations import as_storage_path
    from votel_airflow.stream_to_file import write_pages

    path = as_storage_path("results_destination", destination)

    def pages() -> Iterator[list[dict[str, Any]]]:
        page: list[dict[str, Any]] = []
        for row in rows:
            totals.add(row)
            page.append(redacted(row))
            if len(page) == PAGE_ROWS:
                yield page
                page = []
        if page:
            yield page

    return write_pages(path, preview_format(destination), pages()).uri


#: Columns of the log table, and the width each is cut to.
LOG_COLUMNS = (
    ("recipient", 24), ("skip_reason", 16), ("local_time", 42), ("segments", 8),
    ("estimated_cost", 14), ("message", 40),
)  # fmt: skip


def log_table(rows: Iterator[dict[str, Any]], totals: Totals, limit: int = PREVIEW_LOG_ROWS) -> list[str]:
    """The preview as table lines for the task log: at most ``limit`` rows, then a count of the rest."""

    def cell(value: Any, width: int) -> str:
        text = "-" if value is None else str(value).replace("\n", " ")
        return (text if len(text) <= width else text[: width - 1] + "…").ljust(width)

    lines = [" ".join(cell(name, width) for name, width in LOG_COLUMNS).rstrip()]
    shown = 0
    for row in rows:
        totals.add(row)
        if shown < limit:
            safe = redacted(row)
            lines.append(" ".join(cell(safe[name], width) for name, width in LOG_COLUMNS).rstrip())
            shown += 1
    rest = totals.recipients - shown
    if rest:
        lines.append(f"... and {rest} more row(s); give results_destination to write every row to a file.")
    return lines
