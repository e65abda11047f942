"""Conversation sensors: wait for a contact's reply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

# conditions.Fetch and .Verdict are read when a condition runs: the module loads them then, not at parse.
from votel_airflow import conditions, endpoints
from votel_airflow.conditions import Condition
from votel_airflow.operators.conversations import require_channel
from votel_airflow.sensors.base import VotelSensor
from votel_airflow.validation import fail, parse_instant, require_id

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelAsyncHook, VotelHook


class InboundReplyCondition(Condition):
    """The contact sent an inbound message at or after ``after`` (on ``channel``, if given).

    The contract has no per-contact message search, so one round is two steps: the threads active
    since ``after`` (:meth:`fetches`), then the messages since ``after`` of the contact's threads
    among them (:meth:`thread_fetches`). :meth:`evaluate` judges ``[threads, *thread_messages]``.

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

    def thread_fetches(self, threads: Any) -> list[conditions.Fetch]:
        """The message reads of the contact's threads among ``threads``."""
        return [
            conditions.Fetch(
                endpoints.path(endpoints.CONVERSATION_MESSAGES, conversation_id=thread["id"]),
                {"since": self.after},
                all_pages=True,
            )
            for thread in threads or []
            if thread.get("contact_id") == self.contact_id
            and (self.channel is None or thread.get("channel") == self.channel)
        ]

    def check(self, hook: VotelHook) -> conditions.Verdict:
        threads = [_get(hook, fetch) for fetch in self.fetches()]
        messages = [_get(hook, fetch) for fetch in self.thread_fetches(threads[0])]
        return self.evaluate(threads + messages)

    async def acheck(self, hook: VotelAsyncHook) -> conditions.Verdict:
        threads = [await _aget(hook, fetch) for fetch in self.fetches()]
        messages = [await _aget(hook, fetch) for fetch in self.thread_fetches(threads[0])]
        return self.evaluate(threads + messages)

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


def _get(hook: VotelHook, fetch: conditions.Fetch) -> Any:
    return (
        list(hook.paginate(fetch.path, params=fetch.params))
        if fetch.all_pages
        else hook.get(fetch.path, fetch.params)
    )


async def _aget(hook: VotelAsyncHook, fetch: conditions.Fetch) -> Any:
    if fetch.all_pages:
        return await hook.get_all_pages(fetch.path, fetch.params)
    return await hook.get(fetch.path, fetch.params)


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
        if isinstance(contact_id, str) and "{{" not in contact_id:
            require_id("contact_id", contact_id)
        if channel is not None and "{{" not in str(channel):
            require_channel(channel)

    def _after(self, context: Any) -> str:
        value = self.after
        if value in (None, "", "None"):
            value = getattr(context.get("dag_run"), "start_date", None)
        if value is None:
            raise fail(
                "after", self.after, "is not set and the run has no start date", "Pass after= explicitly."
            )
        return parse_instant("after", value).isoformat()

    def condition(self, context: Any) -> InboundReplyCondition:
        channel = None if self.channel in (None, "", "None") else require_channel(self.channel)
        return InboundReplyCondition(
            contact_id=require_id("contact_id", self.contact_id), after=self._after(context), channel=channel
        )
