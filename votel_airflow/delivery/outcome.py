"""How a screening shows in a send's summary and its last log line.

The summary gains ``skipped`` (reason -> count, every reason present, always exact),
``skipped_recipients`` (reason -> recipients, at most :data:`MAX_LISTED` each, like the other
lists), ``waiting`` (how many wait for their quiet hours to end) and ``next_opening`` (ISO
instant, or None).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from votel_airflow.defaults import SKIP_REASONS
from votel_airflow.delivery.screening import Screening

#: Recipients listed per reason (the counts are always exact), as the engine lists its errors.
MAX_LISTED = 100


def with_screening(
    summary: dict[str, Any], screening: Screening, requested: int, duplicates: int
) -> dict[str, Any]:
    """``summary`` (the engine's, over the recipients sent now) with the screening's skips added.

    :param requested: every input of the send, invalid and duplicate ones included.
    :param duplicates: inputs that repeated an earlier one.
    """
    summary["requested"] = requested
    summary["duplicates"] = duplicates
    summary["skipped"] = {reason: len(screening.skipped[reason]) for reason in SKIP_REASONS}
    summary["skipped_recipients"] = {
        reason: screening.skipped[reason][:MAX_LISTED] for reason in SKIP_REASONS
    }
    summary["waiting"] = len(screening.waiting)
    opening = screening.next_opening
    summary["next_opening"] = opening.isoformat() if opening is not None else None
    return summary


def merge_resumed(earlier: Mapping[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """The summary of a send resumed after quiet hours: the first part's counts and lists plus the
    resumed part's; ``requested`` and ``duplicates`` are the first part's (it saw every input)."""
    merged = dict(later)
    for count in ("sent", "resumed", "failed", "ambiguous", "reconciled", "skipped_invalid"):
        merged[count] = int(earlier.get(count) or 0) + int(later.get(count) or 0)
    for listed in ("message_ids", "errors", "ambiguous_recipients", "invalid"):
        merged[listed] = [*(earlier.get(listed) or []), *(later.get(listed) or [])]
    merged["message_ids_truncated"] = bool(earlier.get("message_ids_truncated")) or bool(
        later.get("message_ids_truncated")
    )
    from votel_airflow.delivery.xcom_results import MAX_IDS_IN_XCOM

    if len(merged["message_ids"]) > MAX_IDS_IN_XCOM:
        merged["message_ids"] = merged["message_ids"][:MAX_IDS_IN_XCOM]
        merged["message_ids_truncated"] = True
    merged["requested"], merged["duplicates"] = earlier.get("requested"), earlier.get("duplicates")
    skipped_before = earlier.get("skipped") or {}
    listed_before = earlier.get("skipped_recipients") or {}
    # Those the first part left waiting are judged again now: count them once, where they ended.
    merged["skipped"] = {r: int(skipped_before.get(r) or 0) + later["skipped"][r] for r in SKIP_REASONS}
    merged["skipped_recipients"] = {
        r: [*(listed_before.get(r) or []), *later["skipped_recipients"][r]][:MAX_LISTED] for r in SKIP_REASONS
    }
    return merged


def skip_line(summary: Mapping[str, Any]) -> str:
    """``"2 opted_out, 0 suppressed, ..."``: the skip counts for the send's last log line."""
    skipped = summary.get("skipped") or {}
    waiting = (
        f", {summary.get('waiting', 0)} waiting for quiet hours to end" if summary.get("waiting") else ""
    )
    return ", ".join(f"{skipped.get(reason, 0)} {reason}" for reason in SKIP_REASONS) + waiting
