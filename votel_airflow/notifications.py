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

On Airflow 3.1 and later they are also ``DeadlineAlert`` callbacks (:meth:`~_VotelNotifier.on_deadline`):
Airflow's triggerer builds the notifier with the missed deadline's context and awaits it, which
runs :meth:`~_VotelNotifier.async_notify` on the async hook. The request is the one the sync path
sends (built once, by the hook's request builders), and its key names the deadline (dag, run and
deadline id), so a callback the triggerer runs again after a restart pages once. There the
notifier does raise after logging: no task error can be masked, and the callback's ``failed``
state is the only record that the page did not go out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from votel_airflow.compat import BaseNotifier
from votel_airflow.defaults import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk.definitions.callback import AsyncCallback

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
#: The context key of a deadline callback's context (3.1+): ``{"id", "deadline_time"}``.
DEADLINE_MARK = "deadline"


class _Send(NamedTuple):
    """One notification's request: the key's kind and parts, then what is POSTed where.

    ``channel`` is the outreach policy's channel when the policy screens this notification (as
    transactional: any hour, past caps, never past an opt-out), None when it does not.
    """

    kind: str
    key_parts: tuple[str, ...]
    path: str
    payload: dict[str, Any]
    channel: str | None = None


def _event_key(context: Mapping[str, Any], kind: str, *parts: str) -> str:
    """The idempotency key of one notification: this task instance (or DAG run, or deadline), this event."""
    from votel_airflow.delivery.idempotency import idempotency_key

    if DEADLINE_MARK in context and "ti" not in context:
        return _deadline_event_key(context, kind, *parts)
    ti = context.get("ti")
    if ti is not None and DAG_CALLBACK_MARK not in context:
        event = str(getattr(ti, "state", None) or "event")
        return idempotency_key(context, kind, event, str(getattr(ti, "try_number", "")), *parts)
    return _dag_event_key(context, kind, *parts)


def _deadline_event_key(context: Mapping[str, Any], kind: str, *parts: str) -> str:
    """The key of a deadline callback's notification: this DAG run, this missed deadline.

    Airflow (3.1 to 3.3) hands a deadline callback only ``{"dag_run": {...}, "deadline": {"id",
    "deadline_time"}}``, the run as JSON. A deadline's id is its own row, so the triggerer running
    the callback again (a restart) pages once, while each deadline of a run (and each run) pages.
    """
    run = context.get("dag_run")
    deadline = context.get(DEADLINE_MARK)
    deadline_id = deadline.get("id") if isinstance(deadline, Mapping) else None
    run_fields = run if isinstance(run, Mapping) else {}
    return _hashed_key(
        "deadline",
        str(run_fields.get("dag_id") or ""),
        str(run_fields.get("run_id") or ""),
        str(deadline_id or ""),
        kind,
        *parts,
        unique=not deadline_id,
    )


def _hashed_key(*material: str, unique: bool = False) -> str:
    """A key from ``material``; ``unique`` when nothing identifies the event (sent, not dropped)."""
    import hashlib
    import uuid

    from votel_airflow.delivery.idempotency import KEY_PREFIX

    if unique:
        return KEY_PREFIX + uuid.uuid4().hex
    return KEY_PREFIX + hashlib.sha256("\x1f".join(material).encode()).hexdigest()[:40]


def _dag_event_key(context: Mapping[str, Any], kind: str, *parts: str) -> str:
    """The key of a DAG-level notification: this DAG run (and clearing of it), this outcome.

    Airflow 3 (3.0 to 3.3) hands a DAG callback either the last task instance's whole context
    with ``reason`` added, or only ``dag``, ``run_id`` and ``reason``: ``dag_run`` may be absent,
    and ``ti`` may be present though the event is the run's. Both forms carry ``run_id``. The
    ``dag-run`` part keeps the key apart from any task's; without a run id there is nothing to
    de-duplicate on, and a page sent twice beats a page dropped, so the key is then unique.
    """
    run = context.get("dag_run")
    ti = context.get("ti")
    run_id = context.get("run_id") or getattr(run, "run_id", None) or getattr(ti, "run_id", None)
    dag_id = getattr(context.get("dag"), "dag_id", None) or getattr(ti, "dag_id", None) or ""
    outcome = context.get(DAG_CALLBACK_MARK) or getattr(run, "state", None) or ""
    return _hashed_key(
        "dag-run",
        str(dag_id),
        str(run_id),
        str(getattr(run, "clear_number", None) or 0),
        str(outcome),
        kind,
        *parts,
        unique=not run_id,
    )


def _sms_body(field: str, value: Any) -> str:
    return require_text(field, value, max_length=MAX_BODY)


def _variables(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(field, value, "must be a mapping", "Pass e.g. {'task': '{{ ti.task_id }}'}.")
    return {str(k): v for k, v in value.items()}


class _VotelNotifier(BaseNotifier):
    """What both notifiers share: their checks, one request sent sync or async, and the keys.

    Each argument is checked twice by the same function: in ``__init__`` when it is static (so a
    bad number fails the DAG at parse time), and again before sending once templates rendered.
    """

    #: What the notifier sends, for its log lines.
    what = "notification"
    #: ``{argument: check}``; a check takes ``(field, value)`` and returns the value to send.
    checks: ClassVar[Mapping[str, Callable[[str, Any], Any]]] = {}
    #: Arguments that may be left unset (they are then neither checked nor sent).
    optional: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self, *, votel_conn_id: str = DEFAULT_CONN_ID, context: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__()
        # Set by Airflow's triggerer for a deadline callback (3.1+), which then awaits the notifier;
        # 3.0's BaseNotifier has no such attribute, so it is set here for every minor.
        self.context = dict(context or {})  # type: ignore[assignment]
        self.votel_conn_id = votel_conn_id

    @classmethod
    def on_deadline(cls, **arguments: Any) -> AsyncCallback:
        """A ``DeadlineAlert`` callback (Airflow 3.1+) that runs this notifier in the triggerer.

        The arguments are the notifier's own (JSON values: they are stored with the DAG) and are
        checked now, when the DAG is parsed, as the constructor checks them.

        :param arguments: the notifier's arguments, e.g. ``to=..., body=...``.
        """
        from votel_airflow.compat import optional

        async_callback = optional("AsyncCallback")
        if async_callback is None:
            from votel_airflow.exceptions import VotelInputError

            raise VotelInputError(
                f"{cls.__name__}.on_deadline() needs Airflow 3.1 or later (DeadlineAlert and AsyncCallback); "
                "on Airflow 3.0 use the notifier as a task or DAG callback (on_failure_callback=...)."
            )
        cls(**arguments)
        callback: AsyncCallback = async_callback(cls, kwargs=dict(arguments))
        return callback

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

    def _update_context(self, context: Any) -> Any:
        # dag.test() on Airflow 3.0-3.2 hands a failure callback no ``exception`` (a worker does):
        # a body naming it would fail to render under StrictUndefined and the page be lost.
        if "exception" not in context:
            context["exception"] = None
        return super()._update_context(context)

    def get_template_env(self, dag: Any = None) -> Any:
        # dag.test() hands a DAG callback the serialized DAG, which has no template environment
        # (Airflow 3.3), and a deadline callback gets no DAG at all: render with the default one
        # rather than lose the page.
        return super().get_template_env(dag=dag if hasattr(dag, "get_template_env") else None)

    def notify(self, context: Any) -> None:
        try:
            sent = self.send(context)
        except Exception as exc:
            # Never masks what the callback reports on: the task's own failure stays the error.
            self.log.error("Votel %s was not sent: %s", self.what, exc)
            return
        self._log_sent(sent)

    async def async_notify(self, context: Any) -> None:
        """Send on the async hook, as a deadline callback in the triggerer; raise if not sent."""
        import asyncio

        from votel_airflow.hooks.votel import VotelAsyncHook

        try:
            request = self.request()
            # The policy's reads are the sync hook's: a few listings, off the triggerer's loop.
            skipped = await asyncio.to_thread(self._policy_skip, request)
            if skipped is not None:
                self._log_sent(skipped)
                return
            async with VotelAsyncHook(self.votel_conn_id) as hook:
                sent = await hook.request(
                    "POST",
                    request.path,
                    json=request.payload,
                    idempotency_key=_event_key(context, request.kind, *request.key_parts),
                )
        except Exception as exc:
            # Logged in the notifier's words, then raised: Airflow marks the deadline's callback
            # failed, the one place that shows the page never went out.
            self.log.error("Votel %s was not sent: %s", self.what, exc)
            raise
        self._log_sent(sent)

    def send(self, context: Any) -> Any:
        """Send on a sync hook of its own; return the API's answer."""
        from votel_airflow.hooks.votel import VotelHook

        request = self.request()
        hook = VotelHook(self.votel_conn_id)
        try:
            skipped = self._policy_skip(request, hook)
            if skipped is not None:
                return skipped
            return hook.request(
                "POST",
                request.path,
                json=request.payload,
                idempotency_key=_event_key(context, request.kind, *request.key_parts),
            )
        finally:
            hook.close()

    def request(self) -> _Send:
        """The notification's request, from the rendered arguments, checked."""
        raise NotImplementedError

    def _policy_skip(self, request: _Send, hook: VotelHook | None = None) -> dict[str, Any] | None:
        """What the outreach policy says of this notification: None when it may go.

        :param hook: the sync hook to read with; None: one of its own (the async path's thread).
        """
        from votel_airflow.hooks.votel import VotelHook

        if request.channel is None:
            return None
        reader = hook or VotelHook(self.votel_conn_id)
        try:
            return reader.screened_out(request.channel, request.payload["to"], transactional=True)
        finally:
            if hook is None:
                reader.close()

    def _log_sent(self, sent: Any) -> None:
        if isinstance(sent, Mapping) and sent.get("status") == "skipped":
            # The hook logged the policy's reason as a warning; say it was not sent, and why.
            self.log.warning("Votel %s not sent: %s (%s)", self.what, sent.get("reason"), sent.get("to"))
            return
        self.log.info("Votel %s sent: %s", self.what, sent.get("id") if isinstance(sent, Mapping) else sent)


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
    :param context: set by Airflow when it runs the notifier as a deadline callback; leave unset.

    The text is transactional under the outreach policy (docs/guides/responsible-outreach.md):
    it goes at any hour and past frequency caps, but never to a number that opted out.
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
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(votel_conn_id=votel_conn_id, context=context)
        self.to = to
        self.body = body
        self.from_number = from_number
        self._check_static()

    def request(self) -> _Send:
        from votel_airflow.hooks.verbs import sms_request

        checked = self._checked()
        path, payload = sms_request(checked["to"], checked["body"], checked.get("from_number"))
        return _Send("notify-sms", (payload["to"],), path, payload, channel="sms")


class VotelCallNotifier(_VotelNotifier):
    """Have an AI agent call someone when a task or DAG run fails: one call per event.

    The agent gets ``variables`` (templated) for its prompt, e.g. what failed and where.

    :param agent_id: the agent that makes the call. Templated.
    :param to: the number to call, E.164. Templated.
    :param variables: values for the agent's prompt variables. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``. Templated.
    :param context: set by Airflow when it runs the notifier as a deadline callback; leave unset.

    The call is transactional under the outreach policy (docs/guides/responsible-outreach.md): it
    goes at any hour and past frequency caps, but never to a number that opted out of calls
    (``dnd``, ``call`` in ``dnd_channels``) or is on the suppression list.
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
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(votel_conn_id=votel_conn_id, context=context)
        self.agent_id = agent_id
        self.to = to
        self.variables = variables
        self._check_static()

    def request(self) -> _Send:
        from votel_airflow.hooks.verbs import call_request

        checked = self._checked()
        agent_id = checked["agent_id"]
        path, payload = call_request(agent_id, checked["to"], checked.get("variables") or None)
        return _Send("notify-call", (agent_id, payload["to"]), path, payload, channel="call")


__all__ = ["VotelCallNotifier", "VotelSmsNotifier"]
