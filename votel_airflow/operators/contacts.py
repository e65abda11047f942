"""Contacts: create and update one contact, search for ids, move pipeline stages; bulk import/export.

The bulk operators live in their own modules and are re-exported here, so every contacts operator
imports from ``votel_airflow.operators.contacts``:
:class:`~votel_airflow.operators.contact_imports.UpsertContactsOperator` and
:class:`~votel_airflow.operators.contact_exports.ContactExportOperator`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from votel_airflow import endpoints
from votel_airflow.defaults import MAX_PAGE_SIZE
from votel_airflow.delivery.idempotency import idempotency_key
from votel_airflow.delivery.xcom_results import capped_lists
from votel_airflow.earlier_creations import find_created, run_started_after
from votel_airflow.exceptions import (
    DuplicateContactError,  # deprecated here: the error lives in votel_airflow.exceptions
    VotelBadRequestError,
    VotelDuplicateContactError,
    VotelNotFoundError,
    render_detail,
)
from votel_airflow.links import VotelObjectLink, record_link
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.validation import (
    DND_CHANNELS,
    as_str_list,
    fail,
    is_unset,
    parse_instant,
    require_choice,
    require_e164,
    require_email,
    require_flag,
    require_id,
    require_int,
    require_subset,
    require_text,
    require_timezone,
)

if TYPE_CHECKING:
    from votel_airflow.operators.contact_exports import ContactExportOperator
    from votel_airflow.operators.contact_imports import UpsertContactsOperator

#: Re-exported bulk operators (PEP 562), each loaded from its own module on first use.
_REEXPORTS = {
    "ContactExportOperator": "votel_airflow.operators.contact_exports",
    "UpsertContactsOperator": "votel_airflow.operators.contact_imports",
}

CONTACT_FIELDS = frozenset(
    {"first_name", "last_name", "phone", "email", "tags", "custom_fields", "dnd", "dnd_channels", "timezone"}
)
ON_CONFLICT = ("fail", "update")
#: A search matching more contacts than this fails, so a typo cannot enroll the whole CRM.
DEFAULT_MAX_RESULTS = 10_000


def contact_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Contact fields checked before sending: known names, E.164 phone, plausible e-mail, types.

    :param fields: field name to value; unset values (None, "", "None") are dropped.
    """
    unknown = sorted(set(fields) - CONTACT_FIELDS)
    if unknown:
        raise fail("fields", dict(fields), f"has unknown name(s) {unknown}", f"Use {sorted(CONTACT_FIELDS)}.")
    checked = {name: value for name, value in fields.items() if not is_unset(value)}
    if "first_name" in checked:
        checked["first_name"] = require_text("first_name", checked["first_name"], max_length=200)
    if "phone" in checked:
        require_e164("phone", [str(checked["phone"])])
    if "email" in checked:
        checked["email"] = require_email("email", checked["email"])
    if "tags" in checked:
        checked["tags"] = as_str_list("tags", checked["tags"])
    if "custom_fields" in checked and not isinstance(checked["custom_fields"], Mapping):
        raise fail("custom_fields", checked["custom_fields"], "must be a dict", "Pass e.g. {'plan': 'pro'}.")
    if "dnd" in checked:
        checked["dnd"] = require_flag("dnd", checked["dnd"])
    if "dnd_channels" in checked:
        chosen = require_subset(
            "dnd_channels", checked["dnd_channels"], DND_CHANNELS,
            what="channels", fix="Pass e.g. ['sms', 'call'], or [] for none.",
        )  # fmt: skip
        # In the contract's order, as the API stores them: a retry then finds its own contact.
        checked["dnd_channels"] = [channel for channel in DND_CHANNELS if channel in chosen]
    if "timezone" in checked:
        checked["timezone"] = require_timezone("timezone", checked["timezone"])
    return checked


class CreateContactOperator(VotelBaseOperator):
    """Create one contact and return its id; on a duplicate phone/e-mail, fail or update it.

    The API takes no ``Idempotency-Key`` on ``POST /contacts``, so a try first looks for a contact
    with exactly these fields created since the run began (an answer lost after the server made
    it, or a retry) and returns it rather than make a second one or fail on its own duplicate.

    :param first_name: required. Templated.
    :param last_name: Templated.
    :param phone: E.164, e.g. ``+14155552671``. Templated.
    :param email: Templated.
    :param tags: list of tags. Templated.
    :param custom_fields: dict of custom field values. Templated.
    :param dnd: True: no outreach to this person on any channel. Templated.
    :param dnd_channels: channels this person opted out of, from ``sms``, ``email``,
        ``whatsapp``, ``call``. Templated.
    :param timezone: the person's IANA time zone, e.g. ``America/Chicago``. Templated.
    :param on_conflict: when the phone or e-mail already belongs to a contact (409): ``"fail"``
        fails the task, ``"update"`` updates that contact with these fields and returns its id.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = (
        "first_name", "last_name", "phone", "email", "tags", "custom_fields",
        "dnd", "dnd_channels", "timezone",
    )  # fmt: skip
    operator_extra_links = (VotelObjectLink(),)

    def __init__(
        self,
        *,
        first_name: Any,
        last_name: Any = None,
        phone: Any = None,
        email: Any = None,
        tags: Any = None,
        custom_fields: Any = None,
        dnd: Any = None,
        dnd_channels: Any = None,
        timezone: Any = None,
        on_conflict: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.first_name = first_name
        self.last_name = last_name
        self.phone = phone
        self.email = email
        self.tags = tags
        self.custom_fields = custom_fields
        self.dnd = dnd
        self.dnd_channels = dnd_channels
        self.timezone = timezone
        self.on_conflict = require_choice("on_conflict", on_conflict, ON_CONFLICT)

    def execute(self, context: Any) -> str:
        fields = contact_fields({name: getattr(self, name) for name in sorted(CONTACT_FIELDS)})
        if "first_name" not in fields:
            raise fail("first_name", self.first_name, "is required", "Give the contact's first name.")
        contact = self._created_earlier(context, fields)
        if contact is None:
            try:
                # No Idempotency-Key: the API promises none on POST /contacts, and with one the
                # hook would retry a POST whose 5xx came after the contact was made (a 409 on our
                # own contact, or a second one). A lost answer is found by the next try instead.
                contact = self.hook.request("POST", endpoints.CONTACTS, json=fields)
            except VotelBadRequestError as exc:
                if exc.status_code != 409:
                    raise
                contact = self._on_duplicate(context, fields, exc)
        contact_id = str(contact["id"])
        record_link(context, self.hook.settings.base_url, "contact", contact_id)
        return contact_id

    def _created_earlier(self, context: Any, fields: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The contact an earlier try made with exactly these fields since the run began, if any."""
        since = run_started_after(context)
        if since is None:
            return None
        changed = self.hook.paginate(endpoints.CONTACTS, params={"updated_since": since.isoformat()})
        found = find_created(changed, fields, since)
        if found is not None:
            self.log.info(
                "Contact %s was created by a previous try of this task; not creating another", found["id"]
            )
        return found

    def _on_duplicate(
        self, context: Any, fields: dict[str, Any], exc: VotelBadRequestError
    ) -> dict[str, Any]:
        keys: dict[str, Any] = {name: fields[name] for name in ("phone", "email") if name in fields}
        if self.on_conflict == "fail":
            raise VotelDuplicateContactError(
                f"A contact with {keys} already exists ({render_detail(exc.detail)}). Pass "
                "on_conflict='update' to update it instead, or use UpsertContactsOperator.",
                status_code=409,
                detail=exc.detail,
            ) from None
        existing = self._find(keys)
        if existing is None:
            raise exc
        self.log.info("Contact %s already holds %s: updating it", existing["id"], keys)
        path = endpoints.path(endpoints.CONTACT, contact_id=existing["id"])
        key = idempotency_key(context, "contact-update")
        return dict(self.hook.request("PATCH", path, json=fields, idempotency_key=key))

    def _find(self, keys: dict[str, Any]) -> dict[str, Any] | None:
        for name, value in keys.items():
            for contact in self.hook.paginate(endpoints.CONTACTS, params={"search": value}):
                if str(contact.get(name) or "").lower() == str(value).lower():
                    return contact
        return None


class UpdateContactOperator(VotelBaseOperator):
    """Update fields of one contact and return its id.

    :param contact_id: the contact. Templated.
    :param fields: the fields to change: ``first_name``, ``last_name``, ``phone``, ``email``,
        ``tags``, ``custom_fields``, and consent: ``dnd`` (bool), ``dnd_channels`` (a list from
        ``sms``, ``email``, ``whatsapp``, ``call``; ``[]`` clears it), ``timezone`` (IANA name).
        Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("contact_id", "fields")
    operator_extra_links = (VotelObjectLink(),)

    def __init__(self, *, contact_id: Any, fields: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.contact_id = contact_id
        self.fields = dict(fields)

    def execute(self, context: Any) -> str:
        contact_id = require_id("contact_id", self.contact_id)
        fields = contact_fields(self.fields)
        if not fields:
            raise fail(
                "fields", self.fields, "sets nothing", f"Give at least one of {sorted(CONTACT_FIELDS)}."
            )
        path = endpoints.path(endpoints.CONTACT, contact_id=contact_id)
        # PATCH sets values, so a repeat is harmless: the key lets the hook retry it.
        self.hook.request("PATCH", path, json=fields, idempotency_key=idempotency_key(context, "update"))
        record_link(context, self.hook.settings.base_url, "contact", contact_id)
        return contact_id


def _stage_of(pipeline: Mapping[str, Any], stage_id: str | None, stage_name: str | None) -> dict[str, Any]:
    stages = [stage for stage in pipeline.get("stages") or [] if isinstance(stage, dict)]
    names = [str(stage.get("name")) for stage in stages]
    value: Any
    if stage_id is not None:
        matches = [stage for stage in stages if stage.get("id") == stage_id]
        field, value = "stage_id", stage_id
    else:
        wanted = str(stage_name).strip().lower()
        matches = [stage for stage in stages if str(stage.get("name", "")).strip().lower() == wanted]
        field, value = "stage_name", stage_name
    if len(matches) != 1:
        problem = (
            "matches several stages" if matches else f"is not a stage of pipeline {pipeline.get('name')!r}"
        )
        raise fail(field, value, problem, f"Its stages are {names}.")
    return matches[0]


class MoveContactStageOperator(VotelBaseOperator):
    """Move contacts to a pipeline stage, given by id or by name; return the ids moved.

    The pipeline and the stage are checked against ``GET /pipelines`` before any contact moves.
    Returns ``{"moved": [...], "not_found": [...], "pipeline_id", "stage_id"}``, each list cut to
    its first 1,000 ids with its count beside it (``moved_count``, ``not_found_count``),
    ``truncated`` and ``results_uri`` (see :mod:`votel_airflow.delivery.xcom_results`). Moving is
    idempotent (``PUT``), so a retry simply moves again.

    :param contact_ids: one contact id or a list; an XComArg works. Templated.
    :param pipeline_id: the pipeline. Templated.
    :param stage_id: the stage's id; give this or ``stage_name``. Templated.
    :param stage_name: the stage's name (case-insensitive), resolved in the pipeline. Templated.
    :param fail_on_not_found: fail (after moving the others) when some contacts do not exist.
    :param results_destination: file (absolute path or URL) for both lists in full, as one JSON
        object. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = (
        "contact_ids",
        "pipeline_id",
        "stage_id",
        "stage_name",
        "results_destination",
    )
    operator_extra_links = (VotelObjectLink(),)

    def __init__(
        self,
        *,
        contact_ids: Any,
        pipeline_id: Any,
        stage_id: Any = None,
        stage_name: Any = None,
        fail_on_not_found: bool = False,
        results_destination: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.results_destination = results_destination
        if (stage_id is None) == (stage_name is None):
            raise fail(
                "stage_id", stage_id, "give exactly one of stage_id or stage_name", "Pass one of them."
            )
        self.contact_ids = contact_ids
        self.pipeline_id = pipeline_id
        self.stage_id = stage_id
        self.stage_name = stage_name
        self.fail_on_not_found = fail_on_not_found

    def execute(self, context: Any) -> dict[str, Any]:
        from votel_airflow.destinations import optional_storage_path  # fsspec: not at DAG parse time

        contact_ids = list(dict.fromkeys(as_str_list("contact_ids", self.contact_ids)))
        pipeline_id = require_id("pipeline_id", self.pipeline_id)
        stage_id = None if is_unset(self.stage_id) else require_id("stage_id", self.stage_id)
        stage_name = None if stage_id is not None else require_id("stage_name", self.stage_name)
        destination = optional_storage_path("results_destination", self.results_destination)
        pipelines = list(self.hook.paginate(endpoints.PIPELINES))
        pipeline = next((p for p in pipelines if p.get("id") == pipeline_id), None)
        if pipeline is None:
            known = [f"{p.get('name')} ({p.get('id')})" for p in pipelines]
            raise fail(
                "pipeline_id", pipeline_id, "is not a pipeline of this account", f"Pipelines: {known}."
            )
        stage = _stage_of(pipeline, stage_id, stage_name)
        body = {"pipeline_id": pipeline_id, "stage_id": stage["id"]}
        moved: list[str] = []
        not_found: list[str] = []
        for contact_id in contact_ids:
            try:
                self.hook.request(
                    "PUT", endpoints.path(endpoints.CONTACT_STAGE, contact_id=contact_id), json=body
                )
            except VotelNotFoundError:
                not_found.append(contact_id)
            else:
                moved.append(contact_id)
        self.log.info(
            "Moved %d contact(s) to stage %r; %d not found", len(moved), stage.get("name"), len(not_found)
        )
        if len(moved) == 1:
            record_link(context, self.hook.settings.base_url, "contact", moved[0])
        if not_found and self.fail_on_not_found:
            raise VotelNotFoundError(
                f"{len(not_found)} contact(s) do not exist: {not_found[:20]}; "
                f"the other {len(moved)} were moved",
                status_code=404,
            )
        result = capped_lists({"moved": moved, "not_found": not_found}, destination)
        return {**result, "pipeline_id": pipeline_id, "stage_id": stage["id"]}


class ContactSearchOperator(VotelBaseOperator):
    """Find contacts by search text, tag and/or update time; return their ids.

    The ids feed ``EnrollContactOperator(contact_ids=...)`` directly, or ``.expand()`` when
    ``batch_size`` cuts them into lists. A search matching more than ``max_results`` contacts fails
    rather than return a surprise.

    :param search: text matched against name, phone and e-mail. Templated.
    :param tag: only contacts with this tag. Templated.
    :param updated_since: only contacts updated at or after this instant (ISO 8601). Templated.
    :param dnd: True: only contacts that opted out of anything (``dnd`` or any ``dnd_channels``);
        False: only the others. Templated.
    :param max_results: the most ids to return; more matches fail the task.
    :param batch_size: return lists of at most this many ids (for ``.expand()``) instead of one list.
    :param page_size: contacts per request, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("search", "tag", "updated_since", "dnd")

    def __init__(
        self,
        *,
        search: Any = None,
        tag: Any = None,
        updated_since: Any = None,
        dnd: Any = None,
        max_results: int = DEFAULT_MAX_RESULTS,
        batch_size: int | None = None,
        page_size: int = MAX_PAGE_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.search = search
        self.tag = tag
        self.updated_since = updated_since
        self.dnd = dnd
        self.max_results = require_int("max_results", max_results, low=1, high=10**7)
        self.batch_size = (
            None if batch_size is None else require_int("batch_size", batch_size, low=1, high=10**6)
        )
        self.page_size = require_int("page_size", page_size, low=1, high=MAX_PAGE_SIZE)

    def query(self) -> dict[str, Any]:
        """The list filters, checked and with unset values dropped."""
        params: dict[str, Any] = {}
        for name in ("search", "tag"):
            value = getattr(self, name)
            if not is_unset(value):
                if not isinstance(value, str):
                    raise fail(name, value, "must be a string", "Pass text.")
                params[name] = value
        if not is_unset(self.updated_since):
            params["updated_since"] = parse_instant("updated_since", self.updated_since).isoformat()
        if not is_unset(self.dnd):
            params["dnd"] = "true" if require_flag("dnd", self.dnd) else "false"
        return params

    def execute(self, context: Any) -> list[str] | list[list[str]]:
        params = self.query()
        ids: list[str] = []
        for contact in self.hook.paginate(endpoints.CONTACTS, params=params, page_size=self.page_size):
            if len(ids) >= self.max_results:
                raise fail(
                    "max_results",
                    self.max_results,
                    f"the search {params} matches more than {self.max_results} contacts",
                    "Narrow the search or raise max_results.",
                )
            ids.append(str(contact["id"]))
        self.log.info("%d contact(s) match %s", len(ids), params)
        if self.batch_size is None:
            return ids
        return [ids[i : i + self.batch_size] for i in range(0, len(ids), self.batch_size)]


def __getattr__(name: str) -> Any:
    """Load a re-exported bulk operator on first use, so single-contact DAGs do not pay for it."""
    if name in _REEXPORTS:
        import importlib

        return getattr(importlib.import_module(_REEXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ContactExportOperator",
    "ContactSearchOperator",
    "CreateContactOperator",
    "DuplicateContactError",
    "MoveContactStageOperator",
    "UpdateContactOperator",
    "UpsertContactsOperator",
]
