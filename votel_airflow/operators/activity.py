"""Activity: call, meeting and messaging logs streamed to files, and the aggregated reports.

The log extractors are thin: :class:`~votel_airflow.operators.extract.VotelExtractOperator` does
the windowing, streaming and atomic writing; each subclass names its endpoint and its filters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from votel_airflow import endpoints
from votel_airflow.defaults import IN_FLIGHT_CALL_STATUSES
from votel_airflow.destinations import FORMATS, as_storage_path
from votel_airflow.exceptions import VotelServerError
from votel_airflow.names import require_one, resolve
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.operators.extract import VotelExtractOperator, resolve_window
from votel_airflow.stream_to_file import write_pages
from votel_airflow.validation import as_str_list, fail, is_template, is_unset, require_choice

#: Every status a call can have (``GET /activity/calls/{id}``); the logs hold terminal ones.
CALL_STATUSES = frozenset(
    {"queued", "ringing", "in_progress", "completed", "failed", "no_answer", "busy", "canceled"}
)
MESSAGE_DIRECTIONS = frozenset({"inbound", "outbound"})
MESSAGE_CHANNELS = frozenset({"sms", "email", "whatsapp"})
REPORT_KINDS = frozenset({"phone", "widget", "workflow"})


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
    :param filters: ``direction`` (``inbound`` or ``outbound``), ``channel`` (``sms``, ``email``
        or ``whatsapp``) and/or ``contact_id``. Templated.
    :param format: ``jsonl``, ``jsonl.gz`` or ``parquet`` (needs the ``parquet`` extra).
    :param page_size: records per request, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    endpoint = endpoints.MESSAGING_LOGS
    filter_names = frozenset({"direction", "channel", "contact_id"})
    filter_choices = {"direction": MESSAGE_DIRECTIONS, "channel": MESSAGE_CHANNELS}


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
        if not is_template(kind):
            require_choice("kind", kind, REPORT_KINDS)
        if destination is not None and not is_template(destination):
            as_storage_path("destination", destination)
        self.kind = kind
        self.since = since
        self.until = until
        self.destination = destination
        self.format = require_choice("format", format, FORMATS)

    def execute(self, context: Any) -> dict[str, Any]:
        kind = require_choice("kind", self.kind, REPORT_KINDS)
        destination = None
        if not is_unset(self.destination):
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
        written = write_pages(destination, self.format, [rows])
        return written.manifest(
            since=since.isoformat(), until=until.isoformat(), format=self.format, kind=kind
        )


class CancelCallOperator(VotelBaseOperator):
    """Hang up or drop calls that have not ended: given ones, or every call of an agent in flight.

    Returns ``{"canceled": [...], "already_ended": [...]}`` (call ids). A call that had already
    ended (the API answers 409) is listed as ``already_ended``, never an error: cancelling is the
    kill switch, and what is over is stopped already. Cancelling twice is therefore harmless, so a
    retried task simply cancels what is left.

    :param call_id: one call id or a list (an XComArg works). Templated. Give this or ``agent_id``.
    :param agent_id: cancel every call of this agent that is queued, ringing or in progress.
        Templated.
    :param agent_name: the agent's name instead of its id, resolved when the task runs. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("call_id", "agent_id", "agent_name")
    ui_color = "#ffebee"

    def __init__(
        self,
        *,
        call_id: Any = None,
        agent_id: str | None = None,
        agent_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        by_agent = agent_id is not None or agent_name is not None
        if (call_id is None) != by_agent:
            raise fail(
                "call_id", call_id, "give exactly one of call_id or agent_id (or agent_name)",
                "Pass call_id=... to cancel given calls, or agent_id=.../agent_name=... for all of an "
                "agent's calls.",
            )  # fmt: skip
        if by_agent:
            require_one("agent", agent_id, agent_name)
        self.call_id = call_id
        self.agent_id = agent_id
        self.agent_name = agent_name

    def execute(self, context: Any) -> dict[str, list[str]]:
        if self.call_id is not None:
            call_ids = sorted(set(as_str_list("call_id", self.call_id)))
        else:
            call_ids = self._in_flight(resolve(self.hook, "agent", self.agent_id, self.agent_name))
        result: dict[str, list[str]] = {"canceled": [], "already_ended": []}
        for call_id in call_ids:
            # The verb logs a call that had already ended (409) and returns None for it.
            ended = self.hook.cancel_call(call_id) is None
            result["already_ended" if ended else "canceled"].append(call_id)
        self.log.warning(
            "Canceled %d call(s); %d had already ended", len(result["canceled"]), len(result["already_ended"])
        )
        return result

    def _in_flight(self, agent_id: str) -> list[str]:
        found: set[str] = set()
        for status in IN_FLIGHT_CALL_STATUSES:
            params = {"agent_id": agent_id, "status": status}
            found.update(str(call["id"]) for call in self.hook.paginate(endpoints.CALL_LOGS, params=params))
        self.log.info("Agent %s has %d call(s) in flight", agent_id, len(found))
        return sorted(found)
