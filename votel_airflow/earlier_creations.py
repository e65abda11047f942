"""Finding what an earlier try of this task instance created, where the server ignores keys.

The API contract promises ``Idempotency-Key`` only on writes that cost money or reach a person
(sends, calls, enrollments). Creating an agent or snapshotting a version is not among them, so a
key on those paths proves nothing, and worse, would let the hook retry the ``POST`` inside one
try. Their operators therefore make no keyed request: before creating, they look for the object
an earlier try may have created, identified by what the client chose (the exact configuration
asked for) and by time (created no earlier than the run could first have started). That covers
what the task state store cannot: a response lost after the server committed (a 500, a timeout),
and every retry on Airflow 3.0 to 3.2, where there is no task state store at all.

The price, stated in the operators' docs: within one DAG run, two task instances asking for an
identical object get one object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from votel_airflow.validation import api_instant


def run_started_after(context: Mapping[str, Any]) -> datetime | None:
    """The earliest moment any try of this task instance can have run, or None if unknown.

    Airflow 3's ``dag_run.run_after`` (a run is never started before it); else the logical date,
    else the data interval start, both earlier still, so the window only widens.

    :param context: the task's execution context.
    """
    dag_run = context.get("dag_run")
    candidates = (
        getattr(dag_run, "run_after", None),
        context.get("logical_date"),
        context.get("data_interval_start"),
    )
    for value in candidates:
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    return None


def instant_of(row: Mapping[str, Any], field: str = "created_at") -> datetime | None:
    """``row[field]`` as an aware datetime, or None when absent or unreadable.

    :param row: an object as the API returns it.
    :param field: a timestamp field of it.
    """
    return api_instant(row.get(field))


def find_created(
    rows: Iterable[Mapping[str, Any]], wanted: Mapping[str, Any], since: datetime
) -> Mapping[str, Any] | None:
    """The earliest row created at or after ``since`` whose fields equal ``wanted``, or None.

    The earliest, because a first try's object is the one later tries must return.

    :param rows: objects as the API lists them (each with ``created_at``).
    :param wanted: the fields the create asked for, with the values it sent.
    :param since: from :func:`run_started_after`.
    """
    best: tuple[datetime, Mapping[str, Any]] | None = None
    for row in rows:
        created = instant_of(row)
        if created is None or created < since:
            continue
        if any(row.get(field) != value for field, value in wanted.items()):
            continue
        if best is None or created < best[0]:
            best = (created, row)
    return None if best is None else best[1]
