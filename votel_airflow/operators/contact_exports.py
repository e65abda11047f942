"""Contact export: an export job, awaited, then its download streamed to a file atomically.

The download is read line by line and written page by page, like the log extractors: memory stays
flat whatever the number of contacts, and the file appears at the destination only when complete
and matching the job's row count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from votel_airflow import endpoints
from votel_airflow.compat import ObjectStoragePath, conf
from votel_airflow.conditions.contacts import ContactExportCondition
from votel_airflow.defaults import MAX_PAGE_SIZE
from votel_airflow.delivery.idempotency import idempotency_key
from votel_airflow.destinations import FORMATS, as_storage_path, with_destination_asset
from votel_airflow.exceptions import VotelServerError
from votel_airflow.lineage import CONTACTS_DATASET, LineageMixin
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.stream_to_file import write_pages
from votel_airflow.validation import fail, is_unset, parse_instant, require_choice, require_int
from votel_airflow.waiting import result_from_event, wait_for

EXPORT_FILTERS = frozenset({"search", "tag", "updated_since"})


def export_filters(filters: Mapping[str, Any]) -> dict[str, str]:
    """The export's filters, checked: known names, text values, ``updated_since`` as ISO 8601 UTC.

    :param filters: the rendered ``filters`` argument.
    """
    if not isinstance(filters, Mapping):
        raise fail("filters", filters, "must be a dict", f"Use names from {sorted(EXPORT_FILTERS)}.")
    unknown = sorted(set(filters) - EXPORT_FILTERS)
    if unknown:
        raise fail(
            "filters", dict(filters), f"has unknown name(s) {unknown}", f"Use {sorted(EXPORT_FILTERS)}."
        )
    checked: dict[str, str] = {}
    for name, value in filters.items():
        # A template over an unset value renders as "" or "None": the filter is simply not set.
        if is_unset(value):
            continue
        if name == "updated_since":
            checked[name] = parse_instant("filters['updated_since']", value).isoformat()
        elif isinstance(value, str):
            checked[name] = value
        else:
            raise fail(f"filters[{name!r}]", value, "must be a string", "Pass text.")
    return checked


def _pages(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    page: list[dict[str, Any]] = []
    for record in records:
        page.append(record)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


class ContactExportOperator(LineageMixin, VotelBaseOperator):
    """Export contacts to a file: start an export job, wait for it, stream its download atomically.

    Returns the manifest ``{"uri", "records", "format", "export_id"}``. The file appears only when
    every line is in and the count matches the job's ``row_count``; a failed run leaves nothing at
    the destination.

    :param destination: file to write: an absolute local path or any URL ``ObjectStoragePath``
        accepts (``s3://``, ``gs://``, ...). Templated. A static destination is declared as an Asset.
    :param filters: ``search``, ``tag`` and/or ``updated_since`` (ISO 8601), e.g.
        ``{"updated_since": "{{ data_interval_start }}"}``. Templated.
    :param format: ``jsonl``, ``jsonl.gz`` or ``parquet`` (needs the ``parquet`` extra).
    :param page_size: contacts written per write (and per Parquet row group), 1 to 500.
    :param deferrable: wait for the job in the triggerer (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks of the job.
    :param timeout: seconds to wait for the job before failing.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("destination", "filters")
    ui_color = "#e8f4ff"

    def __init__(
        self,
        *,
        destination: Any,
        filters: Mapping[str, Any] | None = None,
        format: str = "jsonl",
        page_size: int = MAX_PAGE_SIZE,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 5.0,
        timeout: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**with_destination_asset(destination, kwargs))
        self.destination = destination
        self.filters = dict(filters or {})
        self.format = require_choice("format", format, FORMATS)
        self.page_size = require_int("page_size", page_size, low=1, high=MAX_PAGE_SIZE)
        self.deferrable = deferrable
        self.poke_interval = float(poke_interval)
        self.timeout = float(timeout)

    def execute(self, context: Any) -> dict[str, Any]:
        # Every check runs before the export is started and before anything is written.
        destination = as_storage_path("destination", self.destination)
        filters = export_filters(self.filters)
        job = self.hook.request(
            "POST",
            endpoints.CONTACT_EXPORTS,
            json={"filters": filters} if filters else {},
            idempotency_key=idempotency_key(context, "export"),
        )
        export_id = str(job.get("id") or "") if isinstance(job, dict) else ""
        if not export_id:
            raise VotelServerError(
                f"POST {endpoints.CONTACT_EXPORTS} answered without a job id",
                method="POST",
                path=endpoints.CONTACT_EXPORTS,
            )
        self.log.info("Contact export job %s started with filters %s", export_id, filters)
        condition = ContactExportCondition(export_id=export_id)
        job = wait_for(
            self,
            condition,
            deferrable=self.deferrable,
            poke_interval=self.poke_interval,
            timeout=self.timeout,
            first=condition.check(self.hook),
        )
        return self._download(job, destination)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Stream the finished export to the destination once the trigger reports it done."""
        job = result_from_event(self.task_id, event)
        return self._download(job, as_storage_path("destination", self.destination))

    def _download(self, job: dict[str, Any], destination: ObjectStoragePath) -> dict[str, Any]:
        export_id = str(job.get("id"))
        url = job.get("download_url")
        if not url:
            raise VotelServerError(f"contact export {export_id} completed without a download_url")
        expected = job.get("row_count")

        def check(records: int) -> None:
            # Checked before the file is published, so a short download never reaches the destination.
            if isinstance(expected, int) and records != expected:
                raise VotelServerError(
                    f"contact export {export_id}: the download held {records} contact(s), "
                    f"the job reported {expected}; nothing was written to {destination}"
                )

        pages = _pages(self.hook.stream_lines(str(url)), self.page_size)
        written = write_pages(destination, self.format, pages, check=check)
        self.log.info("Wrote %d contact(s) of export %s to %s", written.records, export_id, destination)
        self.votel_lineage = written.lineage(self.hook.settings.base_url, CONTACTS_DATASET)
        return written.manifest(format=self.format, export_id=export_id)
