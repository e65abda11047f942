"""Communication: send SMS and e-mail to many recipients exactly once, and manage e-mail templates.

The sends run on the bulk-send engine (:mod:`votel_airflow.delivery.engine`): every input is validated
before the first request, each recipient's request carries its own idempotency key, progress
survives a retry, and a 402 stops the task with the count sent so far.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from votel_airflow import endpoints
from votel_airflow.defaults import EMAIL_CONTENT_MAX_LENGTH, EMAIL_SUBJECT_MAX_LENGTH, SMS_MAX_LENGTH
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.operators.bulk_send import BulkSendOperator, split_valid
from votel_airflow.validation import (
    as_str_list,
    fail,
    invalid_email_addresses,
    invalid_phone_numbers,
    require_dialable,
    require_text,
    shown,
)


class SendSmsOperator(BulkSendOperator):
    """Send an SMS to one number or many, each exactly once, concurrently and within a rate.

    Returns the send summary (see :mod:`votel_airflow.delivery.engine`): counts by outcome and the
    message ids, ready for ``MessageDeliverySensor(message_ids=...)``.

    :param to: one E.164 number or a list of them. Templated; an XComArg is accepted.
    :param body: the text, 1 to 1600 characters. Templated.
    :param from_number: the sending number (E.164); default the account's number. Templated.
    :param on_invalid: ``"fail"`` (default): any invalid number fails the task before anything is
        sent, listing every invalid one; ``"skip"``: send to the valid numbers and list the others.
        The same choice applies to numbers the API itself refuses.
    :param max_concurrency: requests in flight at most (1 to 32).
    :param rate_limit: requests per second at most; None for no client-side limit.
    :param results_destination: file (absolute path or URL) for the full ``{number: message id}``
        JSON; useful over 1,000 recipients, where the summary keeps only the first 1,000 ids. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("to", "body", "from_number", "results_destination", "suppression_list")

    def __init__(
        self,
        *,
        to: Any,
        body: Any,
        from_number: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.body = body
        self.from_number = from_number

    def execute(self, context: Any) -> dict[str, Any]:
        # The bulk-send engine is loaded when a send runs, not when a DAG is parsed.
        from votel_airflow.delivery.engine import SendRequest

        numbers = as_str_list("to", self.to)
        body = require_text("body", self.body, max_length=SMS_MAX_LENGTH)
        sender = self.from_number or None
        if sender is not None:
            sender = require_dialable("from_number", sender)
        valid, invalid = split_valid(
            "to",
            numbers,
            invalid_phone_numbers(numbers),
            self.on_invalid,
            "numbers",
            # The plan check catches a digit too many or too few for the country code.
            "E.164 numbers with '+', the country code and as many digits as its numbering plan "
            "allows, e.g. '+14155552671'",
        )
        if invalid:
            self.log.warning("Skipping %d invalid number(s): %s", len(invalid), shown(invalid))

        def build(number: Any) -> SendRequest:
            return SendRequest.through("send_sms", screened=True, to=number, body=body, from_number=sender)

        summary = self.send(
            context,
            valid,
            build,
            name="sms",
            invalid=invalid,
            channel="sms",
        )
        if self.preview_only:
            return summary
        self.log.info(
            "SMS: %d sent, %d resumed, %d invalid skipped, %d refused, %d skipped by the outreach policy",
            summary["sent"], summary["resumed"], summary["skipped_invalid"], summary["failed"],
            sum(summary["skipped"].values()),
        )  # fmt: skip
        return summary


class SendEmailOperator(BulkSendOperator):
    """Send an e-mail to one address or many, each exactly once, concurrently and within a rate.

    Give the content as ``text``, ``html`` or a ``template_id`` (whose ``{{name}}`` placeholders
    the API fills from ``variables``). Returns the send summary (see :mod:`votel_airflow.delivery.engine`).

    :param to: one e-mail address or a list of them. Templated; an XComArg is accepted.
    :param subject: the subject line, 1 to 998 characters. Templated.
    :param text: plain-text content. Templated.
    :param html: HTML content. Templated.
    :param template_id: an e-mail template's id (see :class:`CreateEmailTemplateOperator`). Templated.
    :param variables: values for the template's placeholders. Templated.
    :param on_invalid: ``"fail"`` (default): any invalid address fails the task before anything is
        sent, listing every invalid one; ``"skip"``: send to the valid addresses and list the others.
        The same choice applies to addresses the API itself refuses.
    :param max_concurrency: requests in flight at most (1 to 32).
    :param rate_limit: requests per second at most; None for no client-side limit.
    :param results_destination: file (absolute path or URL) for the full ``{address: message id}``
        JSON. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = (
        "to", "subject", "text", "html", "template_id", "variables", "results_destination",
        "suppression_list",
    )  # fmt: skip
    template_fields_renderers = {"html": "html", "variables": "json"}

    def __init__(
        self,
        *,
        to: Any,
        subject: Any,
        text: str | None = None,
        html: str | None = None,
        template_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.template_id = template_id
        self.variables = variables

    def _payload(self) -> dict[str, Any]:
        """The body shared by every recipient, validated."""
        payload: dict[str, Any] = {
            "subject": require_text("subject", self.subject, max_length=EMAIL_SUBJECT_MAX_LENGTH)
        }
        for field in ("text", "html"):
            value = getattr(self, field)
            if value is not None and value != "":
                payload[field] = require_text(field, value, max_length=EMAIL_CONTENT_MAX_LENGTH)
        if self.template_id:
            payload["template_id"] = str(self.template_id).strip()
        if not {"text", "html", "template_id"} & payload.keys():
            raise fail("text", self.text, "no content given", "Pass text, html or template_id.")
        if self.variables:
            if not isinstance(self.variables, Mapping):
                raise fail("variables", self.variables, "must be a mapping", "Pass e.g. {'name': 'Ada'}.")
            payload["variables"] = dict(self.variables)
        return payload

    def execute(self, context: Any) -> dict[str, Any]:
        from votel_airflow.delivery.engine import SendRequest

        addresses = as_str_list("to", self.to)
        shared = self._payload()
        valid, invalid = split_valid(
            "to",
            addresses,
            invalid_email_addresses(addresses),
            self.on_invalid,
            "addresses",
            "addresses like 'name@example.com'",
        )
        if invalid:
            self.log.warning("Skipping %d invalid address(es): %s", len(invalid), shown(invalid))

        def build(address: Any) -> SendRequest:
            return SendRequest.through("send_email", screened=True, to=address, **shared)

        summary = self.send(
            context,
            valid,
            build,
            name="email",
            invalid=invalid,
            channel="email",
        )
        return summary


class CreateEmailTemplateOperator(VotelBaseOperator):
    """Create an e-mail template, or reuse the existing one with the same name; return its id.

    Templates are matched by ``name``, so a retry or a daily rerun never piles up copies. An
    existing template is reused as it is (the API has no template update); a warning says when its
    subject or HTML differ from the arguments, so renaming is the way to publish a new version.

    :param name: the template's name, its identity here. Templated.
    :param subject: the subject line. Templated.
    :param html: the HTML body, with ``{{placeholder}}`` variables filled at send time. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("name", "subject", "html")
    template_fields_renderers = {"html": "html"}
    ui_color = "#e6f7ec"

    def __init__(self, *, name: str, subject: str, html: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.subject = subject
        self.html = html

    def execute(self, context: Any) -> str:
        name = require_text("name", self.name, max_length=200).strip()
        subject = require_text("subject", self.subject, max_length=EMAIL_SUBJECT_MAX_LENGTH)
        html = require_text("html", self.html, max_length=EMAIL_CONTENT_MAX_LENGTH)
        for template in self.hook.paginate(endpoints.EMAIL_TEMPLATES):
            if template.get("name") == name:
                if (template.get("subject"), template.get("html")) != (subject, html):
                    self.log.warning(
                        "E-mail template %r exists with a different subject or HTML; reusing it as it "
                        "is. Give the new version a new name to use it.",
                        name,
                    )
                self.log.info("Reusing e-mail template %r (%s)", name, template["id"])
                return str(template["id"])
        created = self.hook.request(
            "POST", endpoints.EMAIL_TEMPLATES, json={"name": name, "subject": subject, "html": html}
        )
        self.log.info("Created e-mail template %r (%s)", name, created["id"])
        return str(created["id"])
