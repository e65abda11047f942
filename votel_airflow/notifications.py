"""Notifiers that page a person through Votel: an SMS, or an AI voice call.

Use them as task or DAG callbacks (``on_failure_callback``, ``on_retry_callback``,
``on_success_callback`` ...). Their fields are templated from the callback's context, so the
message can name the task, the run and the error. Each send carries an idempotency key built from
the task instance (dag, task, run, map index, try), the event (the state the task reached) and
the recipient: a callback run twice for the same event texts or calls once. A DAG-level callback
keys on the DAG run and its outcome instead, apart from any task's key (see :func:`_dag_event_key`).

A notifier never raises: when its own send fails (the API is down, the wallet is empty, the
connection is wrong) it logs the error and returns, so the task's own failure is what Airflow
reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from votel_airflow.compat import BaseNotifier
from votel_airflow.defaults import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelHook

from votel_airflow.validation import (
    fail,
    is_template,
    is_unset,
    require_id,
    require_phone,
    require_text,
)

#: Longest SMS body accepted: ten segments; a page should be short anyway.
MAX_BODY = 1600
#: The context key Airflow 3 adds to a DAG callback's context only (the run's outcome).
DAG_CALLBACK_MARK = "reason"


def _event_key(context: Mapping[str, Any], kind: str, *parts: str) -> str:
    """The idempotency key of one notification: this task instance (or DAG run), this event."""
    from votel_airflow.idempotency import idempotency_key

    ti = context.get("ti")
    if ti is not None and DAG_CALLBACK_MARK not in context:
        event = str(getattr(ti, "state", None) or "event")
        return idempotency_key(context, kind, event, str(getattr(ti, "try_number", "")), *parts)
    return _dag_event_key(context, kind, *parts)


def _dag_event_key(context: Mapping[str, Any], kind: str, *parts: str) -> str:
    """The key of a DAG-level notification: this DAG run (and clearing of it), this outcome.

    Airflow 3 (3.0 to 3.3) hands a DAG callback either the last task instance's whole context
    with ``reason`` added, or only ``dag``, ``run_id`` and ``reason``: ``dag_run`` may be absent,
    and ``ti`` may be present though the event is the run's. Both forms carry ``run_id``. The
    ``dag-run`` part keeps the key apart from any task's; without a run id there is nothing to
    de-duplicate on, and a page sent twice beats a page dropped, so the key is then unique.
    """
    import hashlib
    import uuid

    from votel_airflow.idempotency import KEY_PREFIX

    run = context.get("dag_run")
    ti = context.get("ti")
    run_id = context.get("run_id") or getattr(run, "run_id", None) or getattr(ti, "run_id", None)
    if not run_id:
        return KEY_PREFIX + uuid.uuid4().hex
    dag_id = getattr(context.get("dag"), "dag_id", None) or getattr(ti, "dag_id", None) or ""
    outcome = context.get(DAG_CALLBACK_MARK) or getattr(run, "state", None) or ""
    material = "\x1f".join(
        (
            "dag-run",
            str(dag_id),
            str(run_id),
            str(getattr(run, "clear_number", None) or 0),
            str(outcome),
            kind,
            *parts,
        )
    )
    return KEY_PREFIX + hashlib.sha256(material.encode()).hexdigest()[:40]


def _sms_body(field: str, value: Any) -> str:
    return require_text(field, value, max_length=MAX_BODY)


def _variables(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(field, value, "must be a mapping", "Pass e.g. {'task': '{{ ti.task_id }}'}.")
    return {str(k): v for k, v in value.items()}


class _VotelNotifier(BaseNotifier):
    """What both notifiers share: their checks, one send, and never raising.

    Each argument is checked twice by the same function: in ``__init__`` when it is static (so a
    bad number fails the DAG at parse time), and again in :meth:`send` once templates rendered.
    """

    #: What the notifier sends, for its log lines.
    what = "notification"
    #: ``{argument: check}``; a check takes ``(field, value)`` and returns the value to send.
    checks: ClassVar[Mapping[str, Callable[[str, Any], Any]]] = {}
    #: Arguments that may be left unset (they are then neither checked nor sent).
    optional: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, votel_conn_id: str = DEFAULT_CONN_ID) -> None:
        super().__init__()
        self.votel_conn_id = votel_conn_id

    def _check_static(self) -> None:
        """Check the arguments known before rendering (not templates, not unset optional ones)."""
        for field, check in self.checks.items():
            value = getattr(self, field)
            if not is_template(value) and not (field in self.optional and value is None):
                check(field, value)

    def _checked(self) -> dict[str, Any]:
        """The rendered arguments, checked; unset optional ones left out."""
        return {
            field: check(field, getattr(self, field))
            for field, check in self.checks.items()
            if not (field in self.optional and is_unset(getattr(self, field)))
        }

    def get_template_env(self, dag: Any = None) -> Any:
        # dag.test() hands a DAG callback the serialized DAG, which has no template environment
        # (Airflow 3.3): render with the default one rather than lose the page.
        return super().get_template_env(dag=dag if hasattr(dag, "get_template_env") else None)

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

    def _send_once(
        self, context: Any, kind: str, key_parts: Sequence[str], send: Callable[[VotelHook, str], Any]
    ) -> Any:
        """Run ``send(hook, idempotency_key)`` on a hook of its own; the key names the event."""
        from votel_airflow.hooks.votel import VotelHook

        hook = VotelHook(self.votel_conn_id)
        try:
            return send(hook, _event_key(context, kind, *key_parts))
        finally:
            hook.close()


class VotelSmsNotifier(_VotelNotifier):
    """Text someone when a task or DAG run fails (or succeeds, retries...): one SMS per event.

    .. code-block:: python

        SendSmsOperator(..., on_failure_callback=VotelSmsNotifier(
            to="+14155552671", body="{{ ti.dag_id }}.{{ ti.task_id }} failed: {{ exception }}"
        ))

    The text is transactional under the outreach policy (docs/guides/responsible-outreach.md):
    it goes at any hour and past frequency caps, but never to a number that opted out.

    :param to: the number to text, E.164. Templated.
    :param body: the message. Templated (``ti``, ``dag_run``, ``exception`` ... of the callback).
    :param from_number: the sender number, E.164 (default: the account's). Templated.
    :param votel_conn_id: Airflow connection of type ``votel``. Templated.
    """

    template_fields: Sequence[str] = ("to", "body", "from_number", "votel_conn_id")
    what = "SMS"
    checks = {"to": require_phone, "body": _sms_body, "from_number": require_phone}
    optional = frozenset({"from_number"})

    def __init__(
        self,
        to: str,
        body: str,
        *,
        from_number: str | None = None,
        votel_conn_id: str = DEFAULT_CONN_ID,
    ) -> None:
        super().__init__(votel_conn_id=votel_conn_id)
        self.to = to
        self.body = body
        self.from_number = from_number
        self._check_static()

    def send(self, context: Any) -> Any:
        checked = self._checked()
        to, body, sender = checked["to"], checked["body"], checked.get("from_number")
        return self._send_once(
            context,
            "notify-sms",
            [to],
            # A page about a failed task is transactional: any hour, past caps, never past an opt-out.
            lambda hook, key: hook.send_sms(
                to, body, from_number=sender, idempotency_key=key, transactional=True
            ),
        )


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
    checks = {"agent_id": require_id, "to": require_phone, "variables": _variables}
    optional = frozenset({"variables"})

    def __init__(
        self,
        agent_id: str,
        to: str,
        *,
        variables: Mapping[str, Any] | None = None,
        votel_conn_id: str = DEFAULT_CONN_ID,
    ) -> None:
        super().__init__(votel_conn_id=votel_conn_id)
        self.agent_id = agent_id
        self.to = to
        self.variables = variables
        self._check_static()

    def send(self, context: Any) -> Any:
        checked = self._checked()
        agent_id, to, variables = checked["agent_id"], checked["to"], checked.get("variables") or None
        return self._send_once(
            context,
            "notify-call",
            [agent_id, to],
            lambda hook, key: hook.start_call(agent_id, to, variables=variables, idempotency_key=key),
        )


__all__ = ["VotelCallNotifier", "VotelSmsNotifier"]
