"""Conversations: the thread channels, and the wait for a contact's reply."""

from __future__ import annotations

from typing import Any

from votel_airflow import conditions, endpoints
from votel_airflow.conditions import Condition
from votel_airflow.validation import fail, parse_instant, require_choice

CHANNELS = ("email", "sms", "whatsapp")


def require_channel(value: Any) -> str:
    """One of the thread channels ``sms``, ``email``, ``whatsapp``."""
    if not isinstance(value, str):
        raise fail("channel", value, "must be a string", f"Use one of {list(CHANNELS)}.")
    return require_choice("channel", value.strip().lower(), CHANNELS)


class InboundReplyCondition(Condition):
    """The contact sent an inbound message at or after ``after`` (on ``channel``, if given).

    The contract has no per-contact message search, so one round is two steps: the threads active
    since ``after`` (:meth:`fetches`), then the messages since ``after`` of the contact's threads
    among them (:meth:`follow_up`). :meth:`evaluate` judges ``[threads, *thread_messages]``.

    :param contact_id: the contact expected to reply.
    :param after: ISO 8601 instant; only messages created at or after it count.
    :param channel: ``sms``, ``email`` or ``whatsapp``; None accepts any.
    """

    def __init__(self, *, contact_id: str, after: str, channel: str | None = None) -> None:
        super().__init__(contact_id=contact_id, after=after, channel=channel)
        self.contact_id = contact_id
        self.after = after
        self.channel = channel

    def fetches(self) -> list[conditions.Fetch]:
        params = {"updated_since": self.after, "channel": self.channel}
        return [
            conditions.Fetch(endpoints.CONVERSATIONS, {k: v for k, v in params.items() if v}, all_pages=True)
        ]

    def follow_up(self, answers: list[Any]) -> list[conditions.Fetch]:
        """The message reads of the contact's threads among the threads found (``answers[0]``)."""
        return [
            conditions.Fetch(
                endpoints.path(endpoints.CONVERSATION_MESSAGES, conversation_id=thread["id"]),
                {"since": self.after},
                all_pages=True,
            )
            for thread in answers[0] or []
            if thread.get("contact_id") == self.contact_id
            and (self.channel is None or thread.get("channel") == self.channel)
        ]

    def evaluate(self, answers: list[Any]) -> conditions.Verdict:
        after = parse_instant("after", self.after)
        replies = [
            message
            for thread_messages in answers[1:]
            for message in thread_messages or []
            if message.get("direction") == "inbound"
            and message.get("created_at")
            # The server filters on ``since`` too; checking again costs nothing and guards old replies.
            and parse_instant("created_at", message["created_at"]) >= after
        ]
        if not replies:
            return conditions.Verdict(
                False, message=f"no reply from contact {self.contact_id} since {self.after}"
            )
        first = min(replies, key=lambda m: (parse_instant("created_at", m["created_at"]), str(m.get("id"))))
        return conditions.Verdict(
            True, message=f"contact {self.contact_id} replied at {first['created_at']}", value=first
        )
