"""Conversation sensors: wait for a contact's reply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from votel_airflow.conditions.conversations import InboundReplyCondition, require_channel
from votel_airflow.sensors.base import VotelSensor
from votel_airflow.validation import fail, is_template, is_unset, parse_instant, require_id

# InboundReplyCondition was defined here before it moved to votel_airflow.conditions.conversations:
# deferred tasks serialized earlier name this module, so it stays importable from it.
__all__ = ["InboundReplyCondition", "InboundReplySensor"]


class InboundReplySensor(VotelSensor):
    """Wait until a contact replies (an inbound message) after a given time; return the reply.

    The returned message is the contact's first reply in the window: ``{id, channel, direction,
    from, body, created_at, conversation_id, ...}``, ready for a branch on ``body``.

    :param contact_id: the contact expected to reply. Templated.
    :param after: only replies created at or after this instant count (ISO 8601 or datetime);
        default the DAG run's start, so a reply to this run's message is caught and older ones are
        not. Templated.
    :param channel: ``sms``, ``email`` or ``whatsapp``; None accepts a reply on any channel.
        Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    :param deferrable: hand the wait to the triggerer (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks.
    :param timeout: seconds to wait before failing.
    """

    template_fields: Sequence[str] = ("contact_id", "after", "channel")

    def __init__(
        self, *, contact_id: str, after: Any = None, channel: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.contact_id = contact_id
        self.after = after
        self.channel = channel
        if isinstance(contact_id, str) and not is_template(contact_id):
            require_id("contact_id", contact_id)
        if channel is not None and not is_template(str(channel)):
            require_channel(channel)

    def _after(self, context: Any) -> str:
        value = self.after
        if is_unset(value):
            value = getattr(context.get("dag_run"), "start_date", None)
        if value is None:
            raise fail(
                "after", self.after, "is not set and the run has no start date", "Pass after= explicitly."
            )
        return parse_instant("after", value).isoformat()

    def condition(self, context: Any) -> InboundReplyCondition:
        channel = None if is_unset(self.channel) else require_channel(self.channel)
        return InboundReplyCondition(
            contact_id=require_id("contact_id", self.contact_id), after=self._after(context), channel=channel
        )
