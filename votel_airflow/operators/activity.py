"""Activity: call, meeting and messaging logs streamed to files, and the aggregated reports.

The log extractors are thin: :class:`~votel_airflow.operators.extract.VotelExtractOperator` does
the windowing, streaming and atomic writing; each subclass names its endpoint and its filters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from votel_airflow import endpoints
from votel_airflow.destinations import FORMATS, AtomicRecordWriter, as_storage_path
from votel_airflow.exceptions import VotelServerError
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.operators.extract import VotelExtractOperator, resolve_window
from votel_airflow.validation import require_choice

#: Every status a call can have (``GET /activity/calls/{id}``); the logs hold terminal ones.
CALL_STATUSES = frozenset(
    {"queued", "ringing", "in_progress", "completed", "failed", "no_answer", "busy", "canceled"}
)
MESSAGE_DIRECTIONS = frozenset({"inbound", "outbound"})
REPORT_KINDS = frozenset({"phone", "widget", "workflow"})


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


class CallLogExtractOperator(VotelExtractOperator):
    """Stream the call logs of ``[since, until)`` to a file and return a manifest.

    Rows come ordered by ``(created_at, id)``: a rerun of the same window writes the same rows in
    the same order. Returns ``{"uri", "records", "since", "until", "format"}``.

    :param destination: file to write: an absolute local path or any URL ``ObjectStoragePath``
        accepts (``s3://``, ``gs://``, ...). Templated. A static destination is declared as an Asset.
    :param since: window start (inclusive), ISO 8601 or datetime; default the data interval start.
        Templated.
    :param until: window end (exclusive); default the data interval end. Templated.
    :param filters: ``agent_id`` and/or ``status`` (one of the call statuses). Templated.
    :param format: ``jsonl``, ``jsonl.gz`` or ``parquet`` (needs the ``parquet`` extra).
    :param page_size: records per request, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    endpoint = endpoints.CALL_LOGS
    filter_names = frozenset({"agent_id", "status"})
    filter_choices = {"status": CALL_STATUSES}


class MeetingLogExtractOperator(VotelExtractOperator):
    """Stream the meeting logs of ``[since, until)`` to a file and return a manifest.

    The contract gives this endpoint no filters beyond the window.

    :param destination: file to write: an absolute local path or any URL ``ObjectStoragePath``
        accepts. Templated. A static destination is declared as an Asset.
    :param since: window start (inclusive); default the data interval start. Templated.
    :param until: window end (exclusive); default the data interval end. Templated.
    :param filters: none are accepted; kept for a uniform signature. Templated.
    :param format: ``jsonl``, ``jsonl.gz`` or ``parquet`` (needs the ``parquet`` extra).
    :param page_size: records per request, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    endpoint = endpoints.MEETING_LOGS


class MessagingLogExtractOperator(VotelExtractOperator):
    """Stream the messaging logs (SMS, e-mail, WhatsApp; in and out) of ``[since, until)`` to a file.

    :param destination: file to write: an absolute local path or any URL ``ObjectStoragePath``
        accepts. Templated. A static destination is declared as an Asset.
    :param since: window start (inclusive); default the data interval start. Templated.
    :param until: window end (exclusive); default the data interval end. Templated.
    :param filters: ``direction`` (``inbound`` or ``outbound``). Templated.
    :param format: ``jsonl``, ``jsonl.gz`` or ``parquet`` (needs the ``parquet`` extra).
    :param page_size: records per request, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    endpoint = endpoints.MESSAGING_LOGS
    filter_names = frozenset({"direction"})
    filter_choices = {"direction": MESSAGE_DIRECTIONS}


class ActivityReportOperator(VotelBaseOperator):
    """Fetch an aggregated activity report (phone, widget or workflow) for ``[since, until)``.

    Without ``destination`` the report ``{kind, since, until, rows}`` is returned to XCom (reports
    are aggregates: a row per day or per workflow). With one, the rows are written there
    atomically and the manifest ``{"uri", "records", "since", "until", "format", "kind"}`` is
    returned instead.

    :param kind: ``phone``, ``widget`` or ``workflow``. Templated.
    :param since: window start (inclusive), ISO 8601 or datetime; default the data interval start.
        Templated.
    :param until: window end (exclusive); default the data interval end. Templated.
    :param destination: optional file for the rows: an absolute local path or any URL
        ``ObjectStoragePath`` accepts. Templated.
    :param format: file format when writing: ``jsonl``, ``jsonl.gz`` or ``parquet``.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("kind", "since", "until", "destination")
    ui_color = "#e8f4ff"

    def __init__(
        self,
        *,
        kind: str,
        since: Any = None,
        until: Any = None,
        destination: Any = None,
        format: str = "jsonl",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not _is_template(kind):
            require_choice("kind", kind, REPORT_KINDS)
        if destination is not None and not _is_template(destination):
            as_storage_path("destination", destination)
        self.kind = kind
        self.since = since
        self.until = until
        self.destination = destination
        self.format = require_choice("format", format, FORMATS)

    def execute(self, context: Any) -> dict[str, Any]:
        kind = require_choice("kind", self.kind, REPORT_KINDS)
        destination = None
        if self.destination not in (None, "", "None"):
            destination = as_storage_path("destination", self.destination)
        since, until = resolve_window(context, self.since, self.until)
        path = endpoints.path(endpoints.ACTIVITY_REPORT, kind=kind)
        report = self.hook.get(path, {"since": since.isoformat(), "until": until.isoformat()})
        rows = report.get("rows") if isinstance(report, Mapping) else None
        if not isinstance(rows, list):
            raise VotelServerError(
                f"GET {path} answered without a 'rows' list; the API does not match the contract",
                method="GET",
                path=path,
            )
        self.log.info("%s report for [%s, %s): %d rows", kind, since, until, len(rows))
        if destination is None:
            return dict(report)
        with AtomicRecordWriter(destination, self.format) as writer:
            writer.write_page(rows)
        return {
            "uri": str(destination),
            "records": writer.records,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "format": self.format,
            "kind": kind,
        }
