"""The shared base of every extract operator: a windowed list endpoint streamed to a file.

Pages go straight from the API to the destination (memory stays flat at one page), the file
appears atomically, and only a small manifest goes to XCom. The window defaults to the run's data
interval, so a rerun or backfill of an interval writes the same rows in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pendulum

from votel_airflow.defaults import MAX_PAGE_SIZE
from votel_airflow.destinations import FORMATS, as_storage_path, with_destination_asset
from votel_airflow.lineage import LineageMixin
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.stream_to_file import write_endpoint
from votel_airflow.validation import (
    fail,
    is_unset,
    parse_instant,
    require_choice,
    require_int,
    require_window,
)


def resolve_window(
    context: Mapping[str, Any], since: Any, until: Any
) -> tuple[pendulum.DateTime, pendulum.DateTime]:
    """A validated ``[since, until)`` window; a missing bound defaults to the run's data interval.

    :param context: the task's execution context (for ``data_interval_start``/``_end``).
    :param since: window start (ISO 8601 or datetime) or None.
    :param until: window end (ISO 8601 or datetime) or None.
    """
    bounds = []
    for field, value, fallback in (
        ("since", since, "data_interval_start"),
        ("until", until, "data_interval_end"),
    ):
        # A template over an unset value renders as "" or "None"; both mean "use the default".
        if is_unset(value):
            value = context.get(fallback)
        if value is None:
            raise fail(
                field,
                None,
                f"is not set and the run has no {fallback} (a manual run of an unscheduled DAG)",
                f"Pass {field}= explicitly, e.g. '{{{{ macros.ds_add(ds, -1) }}}}'.",
            )
        bounds.append(parse_instant(field, value))
    start, end = bounds
    require_window(start, end)
    return start, end


class VotelExtractOperator(LineageMixin, VotelBaseOperator):
    """Stream a list endpoint's ``[since, until)`` window to a file; return a manifest.

    Subclasses set :attr:`endpoint` and :attr:`filter_names`. With the ``openlineage`` extra the
    run reports the endpoint as its input and the file as its output, with the row count (and the
    columns, for Parquet).

    :param destination: file to write: an absolute local path or any URL ``ObjectStoragePath``
        accepts (``s3://``, ``gs://``, ...). Templated. A static destination is declared as an Asset.
    :param since: window start (inclusive), ISO 8601 or datetime; default the data interval start.
        Templated.
    :param until: window end (exclusive); default the data interval end. Templated.
    :param filters: extra query filters (see the subclass for the allowed names). Templated.
    :param format: ``jsonl``, ``jsonl.gz`` or ``parquet`` (needs the ``parquet`` extra).
    :param page_size: records per request, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    endpoint: ClassVar[str]
    filter_names: ClassVar[frozenset[str]] = frozenset()
    #: Allowed values of the filters that take a fixed set (a typo would otherwise match nothing).
    filter_choices: ClassVar[Mapping[str, frozenset[str]]] = {}
    #: False for endpoints with no time window: the extract is then a snapshot at run time.
    windowed: ClassVar[bool] = True
    #: Query parameter names of the window on this endpoint.
    window_params: ClassVar[tuple[str, str]] = ("since", "until")
    template_fields: Sequence[str] = ("destination", "since", "until", "filters")
    ui_color = "#e8f4ff"

    def __init__(
        self,
        *,
        destination: Any,
        since: Any = None,
        until: Any = None,
        filters: Mapping[str, Any] | None = None,
        format: str = "jsonl",
        page_size: int = MAX_PAGE_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**with_destination_asset(destination, kwargs))
        self.destination = destination
        self.since = since
        self.until = until
        self.filters = dict(filters or {})
        self.format = require_choice("format", format, FORMATS)
        self.page_size = require_int("page_size", page_size, low=1, high=MAX_PAGE_SIZE)

    def api_path(self, context: Mapping[str, Any]) -> str:
        """The list endpoint to read; override when the path takes parameters."""
        return self.endpoint

    def resolve_window(self, context: Mapping[str, Any]) -> tuple[pendulum.DateTime, pendulum.DateTime]:
        """``since``/``until`` from the arguments, else from the run's data interval."""
        return resolve_window(context, self.since, self.until)

    def filter_params(self) -> dict[str, Any]:
        """The filters as query parameters, checked against the allowed names and values."""
        unknown = sorted(set(self.filters) - self.filter_names)
        if unknown:
            raise fail(
                "filters",
                self.filters,
                f"has unknown name(s) {unknown}",
                f"Allowed filters here: {sorted(self.filter_names)}.",
            )
        for name, allowed in self.filter_choices.items():
            value = self.filters.get(name)
            if value is not None:
                require_choice(f"filters[{name!r}]", value, allowed)
        return dict(self.filters)

    def query(self, since: pendulum.DateTime | None, until: pendulum.DateTime | None) -> dict[str, Any]:
        """Query parameters for the window (when the endpoint has one) and the filters."""
        params = self.filter_params()
        if since is None or until is None:
            return params
        start, end = self.window_params
        return {**params, start: since.isoformat(), end: until.isoformat()}

    def execute(self, context: Any) -> dict[str, Any]:
        # Every check runs before the first request and before anything is written.
        destination = as_storage_path("destination", self.destination)
        since, until = self.resolve_window(context) if self.windowed else (None, None)
        params = self.query(since, until)
        path = self.api_path(context)
        # The raw pages keep each record's JSON text: JSON Lines are written without re-encoding.
        written = write_endpoint(
            self.hook, path, destination, self.format, params=params, page_size=self.page_size, raw=True
        )
        self.log.info("Wrote %d records (%s) to %s", written.records, params, destination)
        self.votel_lineage = written.lineage(self.hook.settings.base_url, path)
        return written.manifest(
            since=since.isoformat() if since is not None else None,
            until=until.isoformat() if until is not None else None,
            format=self.format,
        )
