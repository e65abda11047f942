"""Notifiers that page a person through Votel: an SMS, or an AI voice call.

Use them as task or DAG callbacks (``on_failure_callback``, ``on_retry_callback``,
``on_success_callback`` ...). Their fields are templated from the callback's context, so the
message can name the task, the run and the error. Each send carries an idempotency key built from
the task instance (dag, task, run, map index, try), the event (the state the task reached) and
the recipient: a callback run twice for the same event texts or calls once.

A notifier never raises: when its own send fails (the API is down, the wallet is empty, the
connection is wrong) it logs the error and returns, so the task's own failure is what Airflow
reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from votel_airflow.compat import BaseNotifier
from votel_airflow.operators.base import DEFAULT_CONN_ID
from votel_airflow.validation import e164_pattern, fail, require_id, require_text

#: Longest SMS body accepted: ten segments; a page should be short anyway.
MAX_BODY = 1600


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _phone(field: str, value: Any) -> str:
    if not isinstance(value, str) or not e164_pattern().match(value.strip()):
        raise fail(field, value, "is not an E.164 phone number", "Use e.g. '+14155552671'.")
    return value.strip()


def _event_key(context: Mapping[str, Any], kind: str, *parts: str) -> str:
    """The idempotency key of one notification: this task instance (or DAG run), this event."""
    from votel_airflow.idempotency import KEY_PREFIX, idempotency_key

    ti = context.get("ti")
    if ti is not None:
        event = str(getattr(ti, "state", None) or "event")
        return idempotency_key(context, kind, event, str(getattr(ti, "try_number", "")), *parts)
    # A DAG-level callback: the run and the state it reached name the event.
    import hashlib

    run = context.get("dag_run")
    dag = context.get("dag")
    material = "\x1f".join(
        (
            str(getattr(dag, "dag_id", "")),
            str(getattr(run, "run_id", "")),
            str(getattr(run, "state", "") or context.get("reason", "")),
            kind,
            *parts,
        )
    )
    return KEY_PREFIX + hashlib.sha256(material.encode()).hexdigest()[:40]


class _VotelNotifier(BaseNotifier):
    """What both notifiers share: the connection, one send, and never raising."""

    #: What the notifier sends, for its log lines.
    what = "notification"

    def __init__(self, *, votel_conn_id: str = DEFAULT_CONN_ID) -> None:
        super().__init__()
        self.votel_conn_id = votel_conn_id

    def notify(self, context: Any) -> None:
        try:
            sent = self.send(context)
        except Exception as exc:
            # Never masks what the callback reports on: the task's own failure stays the error.
            self.log.error("Votel %s was not sent: %s", self.what, exc)
            return
        self.log.info("Votel %s sent: %s", self.what, sent.get("id") if isinstance(sent, Mapping) else sent)

    def send(self, context: Any) -> Any:
        raise NotImplementedError


class VotelSmsNotifier(_VotelNotifier):
    """Text someone when a task or DAG run fails (or succeeds, retries...): one SMS per event.

    .. code-block:: python

        SendSmsOperator(..., on_failure_callback=VotelSmsNotifier(
            to="+14155552671", body="{{ ti.dag_id }}.{{ ti.task_id }} failed: {{ exception }}"
        ))

    :param to: the number to text, E.164. Templated.
    :param body: the message. Templated (``ti``, ``dag_run``, ``exception`` ... of the callback).
    :param from_number: the sender number, E.164 (default: the account's). Templated.
    :param votel_conn_id: Airflow connection of type ``votel``. Templated.
    """

    template_fields: Sequence[str] = ("to", "body", "from_number", "votel_conn_id")
    what = "SMS"

    def __init__(
        self,
        to: str,
        body: str,
        *,
        from_number: str | None = None,
        votel_conn_id: str = DEFAULT_CONN_ID,
    ) -> None:
        super().__init__(votel_conn_id=votel_conn_id)
        if not _templated(to):
            _phone("to", to)
        if not _templated(body):
            require_text("body", body, max_length=MAX_BODY)
        if from_number is not None and not _templated(from_number):
            _phone("from_number", from_number)
        self.to = to
        self.body = body
        self.from_number = from_number

    def send(self, context: Any) -> Any:
        from votel_airflow.hooks.votel import VotelHook

        to = _phone("to", self.to)
        body = require_text("body", self.body, max_length=MAX_BODY)
        sender = (
            _phone("from_number", self.from_number) if self.from_number not in (None, "", "None") else None
        )
        hook = VotelHook(self.votel_conn_id)
        try:
            key = _event_key(context, "notify-sms", to)
            return hook.send_sms(to, body, from_number=sender, idempotency_key=key)
        finally:
            hook.close()


class VotelCallNotifier(_VotelNotifier):
    """Have an AI agent call someone when a task or DAG run fails: one call per event.

    The agent gets ``variables`` (templated) for its prompt, e.g. what failed and where.

    :param agent_id: the agent that makes the call. Templated.
    :param to: the number to call, E.164. Templated.
    :param variables: values for the agent's prompt variables. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``. Templated.
    """

    template_fields: Sequence[str] = ("agent_id", "to", "variables", "votel_conn_id")
    what = "call"

    def __init__(
        self,
        agent_id: str,
        to: str,
        *,
        variables: Mapping[str, Any] | None = None,
        votel_conn_id: str = DEFAULT_CONN_ID,
    ) -> None:
        super().__init__(votel_conn_id=votel_conn_id)
        if not _templated(to):
            _phone("to", to)
        if variables is not None and not isinstance(variables, Mapping):
            raise fail("variables", variables, "must be a mapping", "Pass e.g. {'task': '{{ ti.task_id }}'}.")
        self.agent_id = agent_id
        self.to = to
        self.variables = variables

    def send(self, context: Any) -> Any:
        from votel_airflow.hooks.votel import VotelHook

        agent_id = require_id("agent_id", self.agent_id)
        to = _phone("to", self.to)
        variables = {str(k): v for k, v in dict(self.variables).items()} if self.variables else None
        hook = VotelHook(self.votel_conn_id)
        try:
            key = _event_key(context, "notify-call", agent_id, to)
            return hook.start_call(agent_id, to, variables=variables, idempotency_key=key)
        finally:
            hook.close()


__all__ = ["VotelCallNotifier", "VotelSmsNotifier"]
