"""Settings and the other read-only lists: phone numbers (to choose a sender), users, catalogues.

:class:`VotelListOperator` reads any of the account's small reference lists by name, returning the
records to XCom, or streaming them to a file when given a ``destination``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from votel_airflow import endpoints
from votel_airflow.defaults import MAX_PAGE_SIZE
from votel_airflow.destinations import FORMATS, as_storage_path
from votel_airflow.lineage import LineageMixin
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.stream_to_file import write_endpoint
from votel_airflow.validation import fail, is_template, is_unset, require_choice, require_int

#: Resource names of :class:`VotelListOperator` and the list endpoint each reads.
RESOURCES: dict[str, str] = {
    "users": endpoints.SETTINGS_USERS,
    "sub_accounts": endpoints.SETTINGS_SUB_ACCOUNTS,
    "phone_numbers": endpoints.SETTINGS_PHONE_NUMBERS,
    "integrations": endpoints.SETTINGS_INTEGRATIONS,
    "domains": endpoints.SETTINGS_DOMAINS,
    "tts_voices": endpoints.TTS_VOICES,
    "custom_fields": endpoints.CUSTOM_FIELDS,
    "pipelines": endpoints.PIPELINES,
    "task_views": endpoints.TASK_VIEWS,
    "quick_replies": endpoints.QUICK_REPLIES,
    "channels": endpoints.CHANNELS,
    "products": endpoints.PRODUCTS,
    "subscriptions": endpoints.SUBSCRIPTIONS,
    "email_templates": endpoints.EMAIL_TEMPLATES,
    "workflow_variables": endpoints.WORKFLOW_VARIABLES,
    "tracking_links": endpoints.TRACKING_LINKS,
    "traffic_sources": endpoints.TRAFFIC_SOURCES,
    "agents": endpoints.AGENTS,
    "workflows": endpoints.WORKFLOWS,
    "campaigns": endpoints.CAMPAIGNS,
    "calendars": endpoints.CALENDARS,
}
#: Phone number capabilities the API reports; a typo such as "sns" fails instead of matching nothing.
CAPABILITIES = ("mms", "sms", "voice", "whatsapp")
#: A list returned to XCom must stay small; larger ones belong in a file (``destination``).
DEFAULT_MAX_RECORDS = 1000


def resource_name(value: Any) -> str:
    """The canonical resource name: ``"Sub-accounts"`` and ``"tts voices"`` are accepted too."""
    text = str(value).strip().lower().replace("-", "_").replace(" ", "_") if isinstance(value, str) else value
    return require_choice("resource", text, RESOURCES)


class VotelListOperator(LineageMixin, VotelBaseOperator):
    """Read one of the account's read-only lists (users, voices, products, ...) in full.

    Returns the records to XCom, or, with ``destination``, writes them to that file atomically and
    returns the manifest ``{"uri", "records", "format", "resource"}``.

    :param resource: which list, one of :data:`RESOURCES`: users, sub_accounts, phone_numbers,
        integrations, domains, tts_voices, custom_fields, pipelines, task_views, quick_replies,
        channels, products, subscriptions, email_templates, workflow_variables, tracking_links,
        traffic_sources, agents, workflows, campaigns, calendars. Templated.
    :param destination: file to stream the records to (absolute local path or any
        ``ObjectStoragePath`` URL); None returns them to XCom instead. Templated.
    :param format: file format with a destination: ``jsonl``, ``jsonl.gz`` or ``parquet``.
    :param page_size: records per request, 1 to 500.
    :param max_records: without a destination, fail rather than push more records than this to
        XCom (XCom lives in the metadata database).
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("resource", "destination")
    ui_color = "#eef7ee"

    def __init__(
        self,
        *,
        resource: str,
        destination: Any = None,
        format: str = "jsonl",
        page_size: int = MAX_PAGE_SIZE,
        max_records: int = DEFAULT_MAX_RECORDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.resource = resource if is_template(resource) else resource_name(resource)
        self.destination = destination
        if destination is not None and not is_template(destination):
            as_storage_path("destination", destination)
        self.format = require_choice("format", format, FORMATS)
        self.page_size = require_int("page_size", page_size, low=1, high=MAX_PAGE_SIZE)
        self.max_records = require_int("max_records", max_records, low=1, high=1_000_000)

    def execute(self, context: Any) -> Any:
        resource = resource_name(self.resource)
        path = RESOURCES[resource]
        if self.destination is not None:
            destination = as_storage_path("destination", self.destination)
            written = write_endpoint(self.hook, path, destination, self.format, page_size=self.page_size)
            self.log.info("Wrote %d %s to %s", written.records, resource, destination)
            self.votel_lineage = written.lineage(self.hook.settings.base_url, path)
            return written.manifest(format=self.format, resource=resource)
        records: list[dict[str, Any]] = []
        for page in self.hook.iter_pages(path, page_size=self.page_size):
            records.extend(page)
            if len(records) > self.max_records:
                raise fail(
                    "max_records",
                    self.max_records,
                    f"is exceeded: {resource} has more records than that",
                    "Pass destination= to stream them to a file, or raise max_records.",
                )
        self.log.info("Read %d %s", len(records), resource)
        return records


class ListPhoneNumbersOperator(VotelBaseOperator):
    """List the account's phone numbers with their capabilities, e.g. to choose an SMS sender.

    Returns ``[{"id", "number", "capabilities", ...}]``; with ``capability``, only the numbers that
    have it, in the API's order (so ``[0]["number"]`` is a stable choice of sender).

    :param capability: keep only numbers with this capability: one of ``mms``, ``sms``, ``voice``,
        ``whatsapp``; None keeps all. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("capability",)
    ui_color = "#eef7ee"

    def __init__(self, *, capability: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.capability = capability
        if capability is not None and not is_template(capability):
            require_choice("capability", capability, CAPABILITIES)

    def execute(self, context: Any) -> list[dict[str, Any]]:
        capability = None
        if not is_unset(self.capability):
            capability = require_choice("capability", self.capability, CAPABILITIES)
        numbers = [
            number
            for number in self.hook.paginate(endpoints.SETTINGS_PHONE_NUMBERS)
            if capability is None or capability in (number.get("capabilities") or [])
        ]
        self.log.info("%d phone number(s)%s", len(numbers), f" with {capability}" if capability else "")
        return numbers
