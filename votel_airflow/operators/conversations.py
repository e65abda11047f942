"""Conversations: send in a contact's thread (sms, email, whatsapp), and extract threads with messages."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pendulum

from votel_airflow import endpoints
from votel_airflow.conditions.conversations import CHANNELS, require_channel
from votel_airflow.destinations import as_storage_path
from votel_airflow.links import record_link
from votel_airflow.operators.bulk_send import BulkSendOperator
from votel_airflow.operators.extract import VotelExtractOperator
from votel_airflow.stream_to_file import endpoint_pages, write_pages
from votel_airflow.validation import as_str_list, fail, is_unset, parse_instant, require_choice, require_text

BODY_MAX_LENGTH = 10_000
SUBJECT_MAX_LENGTH = 998
#: Thread fields that describe the thread now, not the window: left out so reruns write the same rows.
VOLATILE_THREAD_FIELDS = frozenset({"last_message_at", "unread"})


def _in_window(message: dict[str, Any], since: pendulum.DateTime, until: pendulum.DateTime) -> bool:
    created = message.get("created_at")
    if not created:
        return False
    return since <= parse_instant("created_at", created) < until


class SendMessageOperator(BulkSendOperator):
    """Send a message to contacts in their thread (sms, email or whatsapp), each exactly once.

    The API picks each contact's phone number or e-mail address and files the message in the
    contact's thread for the channel, so replies land in the same conversation. Runs on the bulk-send
    engine (:mod:`votel_airflow.delivery.engine`): every input is checked before the first request, each
    contact's request carries its own idempotency key, progress survives a retry, and a 402 stops
    the task with the count sent so far. The outreach policy applies first, by contact (its ``dnd``
    and ``dnd_channels``, a STOP from its phone for ``sms``, quiet hours in its zone, caps); see
    :class:`~votel_airflow.operators.bulk_send.BulkSendOperator` for its arguments. Returns the send
    summary (counts, message ids, and the skipped contacts by reason).

    :param contact_ids: one contact id or a list of them. Templated; an XComArg is accepted.
    :param channel: ``sms``, ``email`` or ``whatsapp``. Templated.
    :param body: the text, 1 to 10,000 characters. Templated.
    :param subject: e-mail subject (``channel="email"`` only; the API defaults it). Templated.
    :param on_invalid: ``"fail"`` (default): a contact the API refuses (unknown, or without a phone
        number or e-mail address for the channel) fails the task once every other contact was sent;
        ``"skip"``: the task succeeds and the summary lists the refused contacts.
    :param max_concurrency: requests in flight at most (1 to 32).
    :param rate_limit: requests per second at most; None for no client-side limit.
    :param results_destination: file (absolute path or URL) for the full ``{contact id: message
        id}`` JSON; useful over 1,000 contacts, where the summary keeps only the first 1,000 ids.
        Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = (
        "contact_ids", "channel", "body", "subject", "results_destination", "suppression_list",
    )  # fmt: skip

    def __init__(
        self,
        *,
        contact_ids: Any,
        channel: str,
        body: Any,
        subject: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.contact_ids = contact_ids
        self.channel = channel
        self.body = body
        self.subject = subject
        if isinstance(channel, str) and "{{" not in channel:
            require_channel(channel)
        if isinstance(contact_ids, (list, tuple)) or (
            isinstance(contact_ids, str) and "{{" not in contact_ids
        ):
            as_str_list("contact_ids", contact_ids)

    def _payload(self, channel: str) -> dict[str, Any]:
        """The body shared by every contact, validated."""
        payload: dict[str, Any] = {
            "channel": channel,
            "body": require_text("body", self.body, max_length=BODY_MAX_LENGTH),
        }
        if not is_unset(self.subject):
            if channel != "email":
                raise fail(
                    "subject", self.subject, f"is for e-mail only, not channel={channel!r}", "Drop subject."
                )
            payload["subject"] = require_text("subject", self.subject, max_length=SUBJECT_MAX_LENGTH)
        return payload

    def execute(self, context: Any) -> dict[str, Any]:
        # The bulk-send engine is loaded when a send runs, not when a DAG is parsed.
        from votel_airflow.delivery.engine import SendRequest

        contact_ids = as_str_list("contact_ids", self.contact_ids)
        channel = require_channel(self.channel)
        shared = self._payload(channel)

        def build(contact_id: Any) -> SendRequest:
            return SendRequest.through("send_message", screened=True, contact_id=contact_id, **shared)

        summary = self.send(
            context,
            contact_ids,
            build,
            # Per channel: an sms and an e-mail to the same contact are two different effects.
            name=f"message_{channel}",
            channel=channel,
            by_contact=True,
        )
        if self.preview_only:
            return summary
        # A link names one object: a send to many has no single message to show.
        if len(summary["message_ids"]) == 1:
            record_link(context, self.hook.settings.base_url, "message", summary["message_ids"][0])
        self.log.info(
            "%s messages: %d sent, %d resumed, %d refused",
            channel, summary["sent"], summary["resumed"], summary["failed"],
        )  # fmt: skip
        return summary


class ConversationExtractOperator(VotelExtractOperator):
    """Stream the threads with messages in ``[since, until)``, each with those messages, to a file.

    One row per thread: its ``id``, ``contact_id``, ``channel`` (and any other stable field) and
    ``messages``, the thread's messages created in the window, oldest first. Threads come in id
    order, so a rerun of the window writes the same rows. The thread's current-state fields
    (``last_message_at``, ``unread``) are left out for the same reason. Returns the manifest with
    the thread count as ``records`` and the message count as ``messages``.

    :param destination: file to write: an absolute local path or any URL ``ObjectStoragePath``
        accepts. Templated. A static destination is declared as an Asset.
    :param since: window start (inclusive); default the data interval start. Templated.
    :param until: window end (exclusive); default the data interval end. Templated.
    :param filters: ``{"channel": "sms" | "email" | "whatsapp"}`` to keep one channel. Templated.
    :param format: ``jsonl``, ``jsonl.gz`` or ``parquet`` (messages become a JSON text column).
    :param page_size: records per request, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    endpoint = endpoints.CONVERSATIONS
    filter_names = frozenset({"channel"})

    def active_threads(self, since: pendulum.DateTime, channel: str | None) -> dict[str, dict[str, Any]]:
        """The threads active since ``since`` by id, without their current-state fields."""
        # The list is ordered by last activity, newest first: a thread that becomes active while we
        # page moves to the front, which can only repeat an id at a page boundary, never skip one.
        params = {"updated_since": since.isoformat(), "channel": channel}
        threads: dict[str, dict[str, Any]] = {}
        for page in endpoint_pages(self.hook, self.endpoint, params=params, page_size=self.page_size):
            for thread in page:
                threads[str(thread["id"])] = {
                    k: v for k, v in thread.items() if k not in VOLATILE_THREAD_FIELDS
                }
        return threads

    def window_messages(
        self, thread_id: str, since: pendulum.DateTime, until: pendulum.DateTime
    ) -> list[dict[str, Any]]:
        """The thread's messages created in ``[since, until)``, in the API's (oldest first) order."""
        path = endpoints.path(endpoints.CONVERSATION_MESSAGES, conversation_id=thread_id)
        # The endpoint takes only ``since``: the window's end is applied here.
        return [
            message
            for page in self.hook.iter_pages(
                path, params={"since": since.isoformat()}, page_size=self.page_size
            )
            for message in page
            if _in_window(message, since, until)
        ]

    def execute(self, context: Any) -> dict[str, Any]:
        # Every check runs before the first request and before anything is written.
        destination = as_storage_path("destination", self.destination)
        since, until = self.resolve_window(context)
        self.query(since, until)  # refuses unknown filter names
        channel = self.filters.get("channel")
        if channel is not None:
            channel = require_choice("filters.channel", channel, CHANNELS)
        messages = 0

        def threads_in_window() -> Iterator[list[dict[str, Any]]]:
            nonlocal messages
            threads = self.active_threads(since, channel)
            for thread_id in sorted(threads):
                in_window = self.window_messages(thread_id, since, until)
                if in_window:
                    yield [{**threads[thread_id], "messages": in_window}]
                    messages += len(in_window)

        written = write_pages(destination, self.format, threads_in_window())
        self.log.info(
            "Wrote %d threads with %d messages of [%s, %s) to %s",
            written.records, messages, since, until, destination,
        )  # fmt: skip
        return written.manifest(
            messages=messages, since=since.isoformat(), until=until.isoformat(), format=self.format
        )
