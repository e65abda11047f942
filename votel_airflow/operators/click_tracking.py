"""Click tracking: short links for message templates, and their clicks and conversions as files."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from votel_airflow import endpoints
from votel_airflow.destinations import as_storage_path
from votel_airflow.links import VotelObjectLink, record_link
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.operators.extract import VotelExtractOperator
from votel_airflow.stream_to_file import endpoint_pages, write_pages
from votel_airflow.validation import fail, is_template, is_unset, require_id

#: The API's limits on a link (the same as the sandbox's request model).
MAX_NAME_LENGTH = 200
MAX_URL_LENGTH = 2000


def require_link_name(value: Any) -> str:
    """A non-blank link name of at most 200 characters."""
    if not isinstance(value, str) or not value.strip():
        raise fail("name", value, "must be a non-empty string", "Name the link, e.g. 'Spring landing page'.")
    if len(value) > MAX_NAME_LENGTH:
        raise fail("name", value, f"is longer than {MAX_NAME_LENGTH} characters", "Shorten it.")
    return value


def require_http_url(field: str, value: Any) -> str:
    """An absolute ``http://`` or ``https://`` URL with a host and no whitespace."""
    fix = "Use an absolute URL such as 'https://example.com/landing'."
    if not isinstance(value, str) or not value.strip():
        raise fail(field, value, "must be a non-empty URL", fix)
    if len(value) > MAX_URL_LENGTH:
        raise fail(field, value, f"is longer than {MAX_URL_LENGTH} characters", "Shorten it.")
    if any(ch.isspace() for ch in value):
        raise fail(field, value, "contains whitespace", "Percent-encode spaces as %20.")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise fail(field, value, "is not an absolute http(s) URL", fix)
    return value


class CreateTrackingLinkOperator(VotelBaseOperator):
    """Create a click-tracking short link, or reuse the one with the same name and destination.

    Returns ``{"id", "short_url", "name", "destination_url", "created"}``; pull ``short_url`` into
    a message template (``{{ ti.xcom_pull('link')['short_url'] }}``). Rerunning the DAG reuses the
    existing link (``created`` is False) instead of making a second one whose clicks would be
    counted apart.

    :param name: the link's name in Votel, at most 200 characters. Templated.
    :param destination_url: where the short link leads: an absolute http(s) URL. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("name", "destination_url")
    operator_extra_links = (VotelObjectLink(),)
    ui_color = "#fde9f0"

    def __init__(self, *, name: str, destination_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.destination_url = destination_url
        if not is_template(name):
            require_link_name(name)
        if not is_template(destination_url):
            require_http_url("destination_url", destination_url)

    def find_existing(self, name: str, destination_url: str) -> dict[str, Any] | None:
        """The first existing link with this exact name and destination, if any."""
        for link in self.hook.paginate(endpoints.TRACKING_LINKS):
            if link.get("name") == name and link.get("destination_url") == destination_url:
                return link
        return None

    def execute(self, context: Any) -> dict[str, Any]:
        name = require_link_name(self.name)
        destination_url = require_http_url("destination_url", self.destination_url)
        link = self.find_existing(name, destination_url)
        created = link is None
        if link is None:
            link = self.hook.request(
                "POST",
                endpoints.TRACKING_LINKS,
                json={"name": name, "destination_url": destination_url},
                # No Idempotency-Key: the API promises none here, and with one the hook would
                # retry a POST whose 5xx came after the link was made. A later try finds the link
                # by its name and destination instead (find_existing).
            )
            self.log.info("Created tracking link %s -> %s", link["short_url"], destination_url)
        else:
            self.log.info("Reusing tracking link %s (%s)", link["id"], link["short_url"])
        record_link(context, self.hook.settings.base_url, "tracking_link", link["id"])
        return {
            "id": link["id"],
            "short_url": link["short_url"],
            "name": name,
            "destination_url": destination_url,
            "created": created,
        }


class ClickExtractOperator(VotelExtractOperator):
    """Stream the clicks in ``[since, until)`` of one link, or of every link, to a file.

    Each row carries its ``link_id``. With every link, links are read in id order and each link's
    clicks in ``(created_at, id)`` order, so a rerun of the window writes the same file.

    :param link_id: the tracking link; None extracts the clicks of every link. Templated.
    :param destination: file to write: an absolute local path or any URL ``ObjectStoragePath``
        accepts. Templated. A static destination is declared as an Asset.
    :param since: window start (inclusive); default the data interval start. Templated.
    :param until: window end (exclusive); default the data interval end. Templated.
    :param filters: none are defined for this endpoint; kept for the shared signature. Templated.
    :param format: ``jsonl``, ``jsonl.gz`` or ``parquet``.
    :param page_size: records per request, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    endpoint = endpoints.TRACKING_LINK_CLICKS
    template_fields: Sequence[str] = (*VotelExtractOperator.template_fields, "link_id")

    def __init__(self, *, link_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.link_id = link_id
        if link_id is not None and not is_template(link_id):
            require_id("link_id", link_id)

    def _link_id(self) -> str | None:
        if is_unset(self.link_id):
            return None
        return require_id("link_id", self.link_id)

    def execute(self, context: Any) -> dict[str, Any]:
        # Every check runs before the first request and before anything is written.
        destination = as_storage_path("destination", self.destination)
        since, until = self.resolve_window(context)
        params = self.query(since, until)
        link_id = self._link_id()
        if link_id is not None:
            link_ids = [link_id]
        else:
            link_ids = sorted(str(link["id"]) for link in self.hook.paginate(endpoints.TRACKING_LINKS))

        def clicks() -> Iterator[list[dict[str, Any]]]:
            for one in link_ids:
                path = endpoints.path(endpoints.TRACKING_LINK_CLICKS, link_id=one)
                for page in endpoint_pages(self.hook, path, params=params, page_size=self.page_size):
                    yield [{**row, "link_id": one} for row in page]

        written = write_pages(destination, self.format, clicks())
        self.log.info(
            "Wrote %d clicks of %d link(s) in [%s, %s) to %s",
            written.records, len(link_ids), since, until, destination,
        )  # fmt: skip
        return written.manifest(
            since=since.isoformat(), until=until.isoformat(), format=self.format, links=len(link_ids)
        )


class ConversionExtractOperator(VotelExtractOperator):
    """Stream the conversions in ``[since, until)`` to a file; return the manifest.

    :param destination: file to write: an absolute local path or any URL ``ObjectStoragePath``
        accepts. Templated. A static destination is declared as an Asset.
    :param since: window start (inclusive); default the data interval start. Templated.
    :param until: window end (exclusive); default the data interval end. Templated.
    :param filters: none are defined for this endpoint; kept for the shared signature. Templated.
    :param format: ``jsonl``, ``jsonl.gz`` or ``parquet``.
    :param page_size: records per request, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    endpoint = endpoints.CONVERSIONS
