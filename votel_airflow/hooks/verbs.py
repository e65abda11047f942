"""Hook verbs: one typed method per thing a task does with Votel, for ``@task`` and operators alike.

``VotelHook`` inherits them. Every verb with a side effect (a text, an e-mail, a thread
message, a call, an enrollment, an import) carries an ``Idempotency-Key``, so the hook's own
retries and a retry of the task ask the server for the same effect again, which the server
answers with the first response: exactly once. On a connection with ``server_idempotency``
false, a send that failed ambiguously is never repeated and raises
:class:`~votel_airflow.exceptions.VotelOutcomeUnknownError` instead.

Without an explicit ``idempotency_key`` the key derives from the running task instance (dag,
task, run, map index) and the verb's target, exactly as the operators derive theirs
(:func:`votel_airflow.delivery.idempotency.idempotency_key`); outside a running task there is no
instance to derive from, and the verb refuses to send without a key.

Inside a running task, a sending verb that screens (``screen=True``, the default) keeps the
server's answer in the task's progress under its key
(:class:`~votel_airflow.delivery.idempotency.TaskProgress`, the store the bulk-send engine resumes
from), and a later try of the task returns that answer
without judging the recipient again and without a request: its own earlier send must not count
against a frequency cap, and a server that ignores the key must not be asked twice. A verb whose
earlier try was screened out, or whose request failed, keeps nothing and is judged again. The
first try of a task instance reads nothing (no earlier try can have kept an answer) and writes the
answer once. That progress lives in the task state store, which Airflow has from 3.3; before 3.3,
and outside a task, nothing is kept and each call is judged and sent as if it were the first,
except that a retry (try 2 on) on a connection with ``server_idempotency`` false refuses before any
request with :class:`~votel_airflow.exceptions.VotelUnsafeRetryError`: it cannot know what the
earlier try sent, and such a server would send again.

Where the answer is kept and the connection says ``server_idempotency`` false, the verb also writes
its request ahead (a *pending* mark, :mod:`votel_airflow.delivery.ambiguity`'s, before the ``POST``)
so a worker killed between the server's answer and its save cannot make the retry send again: a
later try that finds the mark (or the *ambiguous* one an ambiguous failure leaves) returns the
message found in the messaging log, or raises
:class:`~votel_airflow.exceptions.VotelOutcomeUnknownError` before any request. A failure that
surely did nothing clears the mark. A connection that trusts the keys writes the answer only.

Arguments are checked before any request; the operators check theirs when a DAG is parsed and
send through these same verbs, so a ``@task`` and an operator share one implementation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from votel_airflow import endpoints
from votel_airflow.defaults import (
    EMAIL_CONTENT_MAX_LENGTH,
    EMAIL_SUBJECT_MAX_LENGTH,
    MATCH_ON,
    MAX_ENROLL_BATCH,
    SMS_MAX_LENGTH,
)
from votel_airflow.validation import (
    e164_pattern,
    fail,
    parse_instant,
    require_choice,
    require_dialable,
    require_id,
    require_text,
    require_window,
)

if TYPE_CHECKING:
    from votel_airflow.delivery.idempotency import TaskProgress
    from votel_airflow.hooks.connection import ConnectionSettings

log = logging.getLogger(__name__)
MESSAGE_MAX_LENGTH = 10_000
CHANNELS = ("sms", "email", "whatsapp")
#: Longest ``Idempotency-Key`` the verbs accept.
MAX_KEY_LENGTH = 255
#: Before a verb's key, the name of the task progress that keeps its answer for a later try.
ANSWER_PROGRESS_PREFIX = "votel_verb_"


def batch_digest(contact_ids: Sequence[str]) -> str:
    """A short digest naming a batch by its content (the same ids give the same digest)."""
    return hashlib.sha256("\n".join(contact_ids).encode()).hexdigest()[:24]


def running_task_key(verb: str, *parts: str) -> str:
    """The idempotency key of one effect of the running task instance.

    :param verb: the verb's name, for the error outside a task.
    :param parts: the kind of effect and its target, as the operators name them.
    """
    from votel_airflow.delivery.idempotency import idempotency_key

    context = _running_context()
    if context is None:
        raise fail(
            "idempotency_key",
            None,
            f"{verb}() needs one outside a running Airflow task (a key is derived from the task "
            "instance only inside one)",
            f"Pass idempotency_key='...' to {verb}(): a string that names this one effect, the same on "
            "every retry (e.g. f'welcome-{to}-2026-12-01'), or call it from a @task.",
        )
    return idempotency_key(context, *parts)


def _running_context() -> Mapping[str, Any] | None:
    """The running task's context; None in a script, a test or a notebook."""
    try:
        from airflow.sdk import get_current_context

        return get_current_context()
    except Exception:
        return None


def _earlier_answers(context: Mapping[str, Any], key: str) -> TaskProgress:
    """Where the running task keeps the answer to ``key`` for its later tries (durable only where
    Airflow has a task state store), with what an earlier run of the task kept there."""
    from votel_airflow.delivery.idempotency import TaskProgress

    # One progress entry per key: a task's verbs may run from several hooks or threads, and an
    # entry shared by them would have each writer number its chunks without the others'. These
    # entries were always written in chunks, so the read of the older one-value format is skipped.
    return TaskProgress(context, ANSWER_PROGRESS_PREFIX + key, resume=not _first_run(context), legacy=False)


def _try_number(context: Mapping[str, Any]) -> int:
    number = getattr(context.get("ti"), "try_number", None)
    return number if isinstance(number, int) else 1


def _first_run(context: Mapping[str, Any]) -> bool:
    """Whether no earlier run of this task instance can have kept an answer: its first try, neither
    rescheduled nor resumed after a deferral.

    A clear keeps the task state store and raises the try number (Airflow 3.3's
    ``clear_task_instances`` leaves it as it was and the scheduler adds one), so a cleared task reads
    what its earlier tries kept. A reschedule and a resume from a deferral run again under the same
    try number, the store kept: they read too.
    """
    if _try_number(context) != 1 or context.get("task_reschedule_count"):
        return False
    # The Task SDK's run context names the method a deferred task resumes in; Airflow has no public
    # word for it. Where it is missing (no Task SDK instance) there is no deferral to resume from.
    from_server = getattr(context.get("ti"), "_ti_context_from_server", None)
    return getattr(from_server, "next_method", None) is None


def _key(verb: str, given: str | None, *parts: str) -> str:
    if given is None:
        return running_task_key(verb, *parts)
    if not isinstance(given, str) or not given.strip() or len(given) > MAX_KEY_LENGTH:
        raise fail(
            "idempotency_key",
            given,
            f"must be a non-empty string of at most {MAX_KEY_LENGTH} characters",
            "Pass a stable name for this one effect, or leave it unset inside a task.",
        )
    return given


def _phone(field: str, value: Any) -> str:
    # A verb runs only in a task: the numbering-plan check (phonenumbers) is affordable here.
    if not isinstance(value, str) or not e164_pattern().match(value.strip()):
        raise fail(field, value, "is not an E.164 phone number", "Use e.g. '+14155552671'.")
    return require_dialable(field, value)


def _json_object(field: str, value: Any) -> dict[str, Any]:
    # Values need not be JSON types: the request core sends any other value as its str().
    if not isinstance(value, Mapping):
        raise fail(field, value, "must be a mapping of names to values", "Pass e.g. {'first_name': 'Ada'}.")
    return {str(k): v for k, v in value.items()}


def sms_request(to: str, body: str, from_number: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(path, JSON body)`` of one SMS, checked."""
    payload: dict[str, Any] = {
        "to": _phone("to", to),
        "body": require_text("body", body, max_length=SMS_MAX_LENGTH),
    }
    if from_number not in (None, ""):
        payload["from"] = _phone("from_number", from_number)
    return endpoints.SMS, payload


def email_request(
    to: str,
    subject: str,
    text: str | None = None,
    html: str | None = None,
    template_id: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """``(path, JSON body)`` of one e-mail, checked: a subject and text, HTML or a template."""
    payload: dict[str, Any] = {
        "to": require_text("to", to, max_length=320).strip(),
        "subject": require_text("subject", subject, max_length=EMAIL_SUBJECT_MAX_LENGTH),
    }
    for field, value in (("text", text), ("html", html)):
        if value not in (None, ""):
            payload[field] = require_text(field, value, max_length=EMAIL_CONTENT_MAX_LENGTH)
    if template_id not in (None, ""):
        payload["template_id"] = require_id("template_id", template_id)
    if not {"text", "html", "template_id"} & payload.keys():
        raise fail("text", text, "no content given", "Pass text, html or template_id.")
    if variables:
        payload["variables"] = _json_object("variables", variables)
    return endpoints.EMAIL, payload


def message_request(
    contact_id: str, channel: str, body: str, subject: str | None = None
) -> tuple[str, dict[str, Any]]:
    """``(path, JSON body)`` of one message in a contact's thread, checked."""
    payload: dict[str, Any] = {
        "contact_id": require_id("contact_id", contact_id),
        "channel": require_choice("channel", channel, CHANNELS),
        "body": require_text("body", body, max_length=MESSAGE_MAX_LENGTH),
    }
    if subject not in (None, ""):
        if channel != "email":
            raise fail("subject", subject, f"is for e-mail only, not channel={channel!r}", "Drop subject.")
        payload["subject"] = require_text("subject", subject, max_length=EMAIL_SUBJECT_MAX_LENGTH)
    return endpoints.CONVERSATION_SEND, payload


def call_request(
    agent_id: str, to: str, variables: Mapping[str, Any] | None = None, contact_id: str | None = None
) -> tuple[str, dict[str, Any]]:
    """``(path, JSON body)`` of one outbound AI call, checked."""
    agent_id = require_id("agent_id", agent_id)
    payload: dict[str, Any] = {"to": _phone("to", to)}
    if contact_id not in (None, ""):
        payload["contact_id"] = require_id("contact_id", contact_id)
    if variables:
        payload["variables"] = _json_object("variables", variables)
    return endpoints.path(endpoints.AGENT_CALLS, agent_id=agent_id), payload


#: The request of each sending verb, by the verb's name (the bulk-send engine builds with these).
SEND_REQUESTS: dict[str, Callable[..., tuple[str, dict[str, Any]]]] = {
    "send_sms": sms_request,
    "send_email": email_request,
    "send_message": message_request,
}


class VotelVerbs:
    """The verbs of :class:`~votel_airflow.hooks.votel.VotelHook` (see the module docstring)."""

    if TYPE_CHECKING:
        # VotelHook's own: request(method, path, *, params, json, headers, idempotency_key),
        # get(path, params) and paginate(path, *, params, page_size).
        request: Callable[..., Any]
        get: Callable[..., Any]
        paginate: Callable[..., Iterator[dict[str, Any]]]
        settings: ConnectionSettings

    def screened_out(
        self, channel: str, to: str, transactional: bool, by_contact: bool = False
    ) -> dict[str, Any] | None:
        """Why the outreach policy keeps ``to`` from a message on ``channel`` now, as the verb
        returns it (``{"id": None, "status": "skipped", "reason", ...}``); None when it may go."""
        from votel_airflow.delivery.policy import resolve_policy
        from votel_airflow.delivery.screening import screen

        policy = resolve_policy(channel, dict(self.settings.outreach), transactional=transactional)
        verdict = screen(self, [to], policy, by_contact=by_contact)
        if verdict.send_now:
            return None
        skipped: dict[str, Any] = {"id": None, "status": "skipped", "to": to}
        if verdict.waiting:
            # A verb cannot defer its caller: say when the window opens, and send nothing now.
            opening = verdict.next_opening
            skipped.update(reason="quiet_hours", next_opening=opening.isoformat() if opening else None)
        else:
            skipped["reason"] = next(reason for reason, who in verdict.skipped.items() if who)
        log.warning(
            "Not sending %s to %s: %s (the outreach policy; docs/guides/responsible-outreach.md). "
            "Pass transactional=True for a one-time code, a receipt or a page: it goes at any hour "
            "and past frequency caps, never past an opt-out.",
            channel, to, skipped["reason"],
        )  # fmt: skip
        return skipped

    def _kept_answers(self, context: Mapping[str, Any], verb: str, to: str, key: str) -> TaskProgress | None:
        """The running task's kept answers (see :func:`_earlier_answers`); None where nothing outlives
        a try. There a retry cannot know what its earlier try sent, and only a server that honours
        the key keeps it from sending twice: without one, refuse before any request."""
        answers = _earlier_answers(context, key)
        if answers.durable:
            return answers
        try_number = _try_number(context)
        if try_number > 1 and not self.settings.server_idempotency:
            from votel_airflow.exceptions import VotelUnsafeRetryError

            raise VotelUnsafeRetryError(verb=verb, recipient=to, try_number=try_number)
        return None

    def _screened_post(
        self,
        verb: str,
        channel: str,
        to: str,
        path: str,
        payload: dict[str, Any],
        key: str,
        transactional: bool,
        screen: bool,
        by_contact: bool = False,
    ) -> dict[str, Any]:
        """POST one message unless the outreach policy keeps ``to`` out (then its skip), or return
        the answer an earlier try of the running task got for ``key`` (see the module docstring).

        On a server that may ignore the key, the request is written ahead and an earlier try's
        unsettled mark judged first (:meth:`_settle_earlier`, :meth:`_post_written_ahead`).

        The callers build ``key`` first: outside a task without one, that fails before the
        policy's reads. With ``screen`` false the caller applied the policy and keeps its own
        record of earlier tries (the operators and the bulk-send engine do), so nothing is kept here.
        """
        context = _running_context() if screen else None
        answers = self._kept_answers(context, verb, to, key) if context is not None else None
        earlier = answers.done().get(key) if answers is not None else None
        # Only a server that may ignore the key makes an unsettled request matter: one that honours
        # it answers the repeat with the first response.
        write_ahead = answers is not None and not self.settings.server_idempotency
        if earlier is not None:
            assert answers is not None
            earlier = self._settle_earlier(verb, channel, to, payload, key, answers, earlier)
        if isinstance(earlier, Mapping):
            log.info(
                "%s to %s was sent by an earlier try of this task (%s): not judged or sent again",
                channel, to, earlier.get("id"),
            )  # fmt: skip
            return dict(earlier)
        if screen:
            skipped = self.screened_out(channel, to, transactional, by_contact=by_contact)
            if skipped is not None:
                return skipped
        if write_ahead:
            assert answers is not None
            return self._post_written_ahead(path, payload, key, answers)
        answer = dict(self.request("POST", path, json=payload, idempotency_key=key))
        if answers is not None:
            answers.record(key, answer)
            answers.flush()
        return answer

    def _settle_earlier(
        self,
        verb: str,
        channel: str,
        to: str,
        payload: Mapping[str, Any],
        key: str,
        answers: TaskProgress,
        earlier: Any,
    ) -> Any:
        """What an earlier try left for ``key``: its answer (on a server that may ignore the key, a
        message found in the messaging log counts), or None to judge and send as a first try.

        A request written ahead and never settled (the worker died) or that failed ambiguously may
        have reached the person: found in the messaging log it is sent, once; else this raises
        before any request, since absence from a log that can lag proves nothing (the bulk-send
        engine decides alike, :mod:`votel_airflow.delivery.ambiguity`)."""
        from votel_airflow.delivery import ambiguity
        from votel_airflow.exceptions import VotelError

        mark = ambiguity.marker(earlier)
        if mark is None:
            return earlier
        if mark == ambiguity.UNSENT or self.settings.server_idempotency:
            # Surely not done; or written while the connection said otherwise, and now the server
            # is trusted to answer a repeated key with its first response.
            return None
        if channel == "call":
            raise ambiguity.in_flight_error(verb, to, "calls cannot be looked up in the messaging log")
        since = ambiguity.not_before(earlier, self.settings.timeout)
        try:
            found = ambiguity.reconcile_messages(self, {key: payload}, since)
        except VotelError as exc:
            raise ambiguity.in_flight_error(verb, to, f"the messaging log could not be read ({exc})") from exc
        if key not in found:
            raise ambiguity.in_flight_error(verb, to, "the messaging log does not show it (yet)")
        answer = {"id": found[key], "status": "reconciled", "to": to}
        log.info("%s to %s: in the messaging log (%s), sent by an earlier try", channel, to, found[key])
        answers.record(key, answer)
        answers.flush()
        return answer

    def _post_written_ahead(
        self, path: str, payload: dict[str, Any], key: str, answers: TaskProgress
    ) -> dict[str, Any]:
        """POST with the request's fate written ahead (pending) and settled after: the answer; an
        ambiguous failure (kept as such, raised); or a refusal that surely did nothing (cleared,
        raised, so the next try sends normally)."""
        from votel_airflow.delivery import ambiguity
        from votel_airflow.exceptions import VotelError, VotelOutcomeUnknownError

        answers.record(key, ambiguity.pending(time.time()))
        answers.flush()
        try:
            reply = self.request("POST", path, json=payload, idempotency_key=key)
        except VotelOutcomeUnknownError as exc:
            answers.record(key, ambiguity.ambiguous(str(exc), time.time()))
            answers.flush()
            raise
        except VotelError as exc:
            # On such a connection the hook raises any other VotelError only where the request
            # surely did nothing (4xx, 429 after its retries, a refused connection). Anything else
            # (the task killed mid-request) leaves the pending marker: the next try decides.
            answers.record(key, ambiguity.unsent(type(exc).__name__))
            answers.flush()
            raise
        answer = dict(reply)
        answers.record(key, answer)
        answers.flush()
        return answer

    def send_sms(
        self,
        to: str,
        body: str,
        *,
        from_number: str | None = None,
        idempotency_key: str | None = None,
        transactional: bool = False,
        screen: bool = True,
    ) -> dict[str, Any]:
        """Send one SMS, exactly once; return ``{id, status, segments, cost}``.

        The outreach policy of the connection applies first (opt-outs, suppression list, quiet
        hours in the person's zone, frequency caps): a recipient it keeps out is not texted and
        the verb returns ``{"id": None, "status": "skipped", "reason": ..., "to": ...}`` (with
        ``next_opening`` for ``quiet_hours``), logging a warning.

        Inside a running task, a later try returns the answer the earlier try got (kept in the task
        state store, Airflow 3.3+), neither judged again nor sent again. On a connection with
        ``server_idempotency`` false, a try killed mid-request is found by the retry in the
        messaging log, or the retry raises
        :class:`~votel_airflow.exceptions.VotelOutcomeUnknownError`; where nothing is kept, a
        later try on such a connection raises
        :class:`~votel_airflow.exceptions.VotelUnsafeRetryError` before any request (so do the
        other sending verbs). Outside a task nothing is kept between calls: a retry loop of your
        own passes ``screen=False`` on a repeat (the server answers the same key with its first
        response) or keeps its own record of the answer, or its repeat may be judged against the
        first send (``frequency_capped``).

        :param to: the recipient, E.164 (``+14155552671``).
        :param body: the text, 1 to 1600 characters.
        :param from_number: the sending number (E.164); default the account's number.
        :param idempotency_key: names this one send; default (inside a task) the task instance and
            ``to``, the key ``SendSmsOperator`` gives the same number.
        :param transactional: a one-time code, a receipt, a page: sent at any hour and past
            frequency caps, never past an opt-out or the suppression list.
        :param screen: False only when the caller applied the policy already and keeps its own
            record of what an earlier try sent (the operators do).
        """
        path, payload = sms_request(to, body, from_number)
        key = _key("send_sms", idempotency_key, "sms", payload["to"])
        return self._screened_post(
            "send_sms", "sms", payload["to"], path, payload, key, transactional, screen
        )

    def send_email(
        self,
        to: str,
        subject: str,
        *,
        text: str | None = None,
        html: str | None = None,
        template_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        transactional: bool = False,
        screen: bool = True,
    ) -> dict[str, Any]:
        """Send one e-mail, exactly once; give ``text``, ``html`` or a ``template_id``.

        The outreach policy applies first, as for :meth:`send_sms` (e-mail has no quiet hours
        unless the connection's ``quiet_hours`` sets them), and a later try of the running task
        returns the earlier try's answer, as there.

        :param to: the recipient's address.
        :param subject: the subject line, 1 to 998 characters.
        :param text: plain-text content.
        :param html: HTML content.
        :param template_id: an e-mail template, whose ``{{name}}`` placeholders the API fills.
        :param variables: values for the template's placeholders.
        :param idempotency_key: names this one send; default (inside a task) the task instance and
            ``to``, the key ``SendEmailOperator`` gives the same address.
        :param transactional: a receipt, a password reset: at any hour and past frequency caps,
            never past an opt-out or the suppression list.
        :param screen: False only when the caller applied the policy already and keeps its own
            record of what an earlier try sent (the operators do).
        """
        path, payload = email_request(to, subject, text, html, template_id, variables)
        key = _key("send_email", idempotency_key, "email", payload["to"])
        return self._screened_post(
            "send_email", "email", payload["to"], path, payload, key, transactional, screen
        )

    def send_message(
        self,
        contact_id: str,
        channel: str,
        body: str,
        *,
        subject: str | None = None,
        idempotency_key: str | None = None,
        transactional: bool = False,
        screen: bool = True,
    ) -> dict[str, Any]:
        """Send one message in a contact's conversation thread, exactly once.

        The outreach policy applies first, by contact, as for :meth:`send_sms`: a contact it keeps
        out gets nothing and the verb returns ``{"id": None, "status": "skipped", "reason": ...}``.
        A later try of the running task returns the earlier try's answer, as there.

        :param contact_id: the contact.
        :param channel: ``sms``, ``email`` or ``whatsapp``.
        :param body: the text.
        :param subject: the subject, for ``email`` only.
        :param idempotency_key: names this one send; default (inside a task) the task instance,
            channel and contact, the key ``SendMessageOperator`` gives them.
        :param transactional: at any hour and past frequency caps, never past an opt-out.
        :param screen: False only when the caller applied the policy already and keeps its own
            record of what an earlier try sent (the operators do).
        """
        path, payload = message_request(contact_id, channel, body, subject)
        key = _key("send_message", idempotency_key, f"message_{channel}", payload["contact_id"])
        return self._screened_post(
            "send_message",
            channel,
            payload["contact_id"],
            path,
            payload,
            key,
            transactional,
            screen,
            by_contact=True,
        )

    def start_call(
        self,
        agent_id: str,
        to: str,
        *,
        variables: Mapping[str, Any] | None = None,
        contact_id: str | None = None,
        idempotency_key: str | None = None,
        transactional: bool = False,
        screen: bool = True,
    ) -> dict[str, Any]:
        """Start an outbound AI call, exactly once; return ``{id, status: "queued"}``.

        The outreach policy of the connection applies first, on the channel ``call`` (``dnd``,
        ``call`` in ``dnd_channels``, the suppression list, quiet hours in the person's zone,
        frequency caps counted from the call log): a person it keeps out is not called and the verb
        returns ``{"id": None, "status": "skipped", "reason": ..., "to": ...}``, as :meth:`send_sms`.
        A later try of the running task returns the call its earlier try started (``{id, status}``
        as the start answered), as :meth:`send_sms` does: not judged again, not asked for again.

        :param agent_id: the agent that calls.
        :param to: the number to call, E.164.
        :param variables: values for the agent's prompt variables.
        :param contact_id: the contact called, when known.
        :param idempotency_key: names this one call; default (inside a task) the task instance,
            agent and number, the key ``StartCallOperator`` uses.
        :param transactional: a page to the person on call: at any hour and past frequency caps,
            never past an opt-out or the suppression list.
        :param screen: False only when the caller applied the policy already and keeps its own
            record of what an earlier try sent (the operator does).
        """
        path, payload = call_request(agent_id, to, variables, contact_id)
        key = _key("start_call", idempotency_key, "call", agent_id.strip(), payload["to"])
        return self._screened_post(
            "start_call", "call", payload["to"], path, payload, key, transactional, screen
        )

    def cancel_call(self, call_id: str) -> dict[str, Any] | None:
        """Hang up or drop a call; return it (``status: "canceled"``), or None if it had ended.

        A call that had already ended (409) is logged, not an error: cancelling is safe to repeat.

        :param call_id: the call.
        """
        from votel_airflow.delivery.idempotency import stop_key
        from votel_airflow.exceptions import VotelBadRequestError

        path = endpoints.path(endpoints.CALL_CANCEL, call_id=require_id("call_id", call_id))
        try:
            # A fresh key per cancel: retried by the hook, never answered from an older cancel.
            answer = self.request("POST", path, idempotency_key=stop_key())
        except VotelBadRequestError as exc:
            if exc.status_code != 409:
                raise
            log.info("Call %s had already ended, nothing to cancel (%s)", call_id, exc)
            return None
        return dict(answer) if isinstance(answer, Mapping) else {}

    def enroll_contacts(
        self,
        workflow_id: str,
        contact_ids: Sequence[str],
        *,
        idempotency_key: str | None = None,
        channels: Sequence[str] | None = None,
        screen: bool = True,
    ) -> dict[str, Any]:
        """Enroll up to 500 contacts in a workflow, exactly once.

        Returns ``{"enrolled": [...], "already_enrolled": [...], "not_found": [...]}`` (contact ids)
        and ``skipped`` (reason -> contact ids the outreach policy kept out). Enrolling lets the
        workflow reach the person, so opt-outs apply first: a contact with ``dnd`` (or one of
        ``channels`` in its ``dnd_channels``), or whose phone or e-mail is on the connection's
        suppression list, is not enrolled; quiet hours and caps are the workflow's to keep
        (docs/guides/responsible-outreach.md).

        :param workflow_id: the workflow (:meth:`find_workflow` finds one by name).
        :param contact_ids: the contacts, 1 to 500 ids.
        :param idempotency_key: names this one enrollment; default (inside a task) the task
            instance, workflow and the set of ids enrolled, the key ``EnrollContactOperator`` gives
            the batch.
        :param channels: the channels the workflow reaches people on (``sms``, ``email``,
            ``whatsapp``, ``call``); None: only ``dnd`` opts a contact out.
        :param screen: False only when the caller applied the policy already (the operator does).
        """
        workflow_id = require_id("workflow_id", workflow_id)
        if isinstance(contact_ids, str) or not isinstance(contact_ids, Sequence):
            raise fail("contact_ids", contact_ids, "must be a list of contact ids", "Pass e.g. ['c-1'].")
        ids = sorted({require_id("contact_ids", contact_id) for contact_id in contact_ids})
        if not 1 <= len(ids) <= MAX_ENROLL_BATCH:
            raise fail(
                "contact_ids", len(ids), f"must hold 1 to {MAX_ENROLL_BATCH} ids",
                "Split the list, or use EnrollContactOperator, which batches.",
            )  # fmt: skip
        outcomes = ("enrolled", "already_enrolled", "not_found")
        skipped: dict[str, list[str]] = {}
        if screen:
            from votel_airflow.delivery.policy import enrollment_policies
            from votel_airflow.delivery.screening import screen_enrollment

            policies = enrollment_policies(dict(self.settings.outreach), channels)
            verdict = screen_enrollment(self, ids, policies)
            skipped = {reason: who for reason, who in verdict.skipped.items() if who}
            ids = verdict.send_now
            if skipped:
                log.warning("Not enrolling %s (the outreach policy)", skipped)
            if not ids:
                return {**{outcome: [] for outcome in outcomes}, "skipped": skipped}
        key = _key("enroll_contacts", idempotency_key, "enroll", workflow_id, batch_digest(ids))
        path = endpoints.path(endpoints.WORKFLOW_ENROLLMENTS, workflow_id=workflow_id)
        answer = self.request("POST", path, json={"contact_ids": ids}, idempotency_key=key)
        answer = answer if isinstance(answer, Mapping) else {}
        result: dict[str, Any] = {o: [str(i) for i in answer.get(o) or []] for o in outcomes}
        if screen:
            result["skipped"] = skipped
        return result

    def upsert_contacts(
        self,
        contacts: Sequence[Mapping[str, Any]],
        match_on: str,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Start one bulk upsert (an import job); return the job ``{id, status}``.

        Safe to repeat: rows are matched on ``match_on``, so a repeat updates the same contacts
        instead of creating more (the request carries an ``Idempotency-Key`` too). The job runs on
        the server: poll ``GET`` :data:`~votel_airflow.endpoints.CONTACT_IMPORT` until its
        ``status`` is ``completed`` or ``failed`` (``UpsertContactsOperator`` does both).

        :param contacts: the rows, each ``{first_name, phone?, email?, tags?, custom_fields?}``.
        :param match_on: ``"phone"`` or ``"email"``: the field that finds a contact to update.
        :param idempotency_key: names this one import; default (inside a task) the task instance
            and the rows' content.
        """
        match_on = require_choice("match_on", match_on, MATCH_ON)
        if isinstance(contacts, (str, Mapping)) or not isinstance(contacts, Sequence) or not contacts:
            raise fail("contacts", contacts, "must be a non-empty list of contact rows", "Pass [{...}, ...].")
        bad = next((n for n, row in enumerate(contacts) if not isinstance(row, Mapping)), None)
        if bad is not None:
            raise fail(f"contacts[{bad}]", contacts[bad], "is not a mapping", "Pass each row as a dict.")
        rows = [dict(row) for row in contacts]
        content = json.dumps(rows, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(content.encode()).hexdigest()[:24]
        key = _key("upsert_contacts", idempotency_key, "import", match_on, digest)
        body = {"contacts": rows, "match_on": match_on}
        return dict(self.request("POST", endpoints.CONTACT_IMPORTS, json=body, idempotency_key=key))

    def get_contact(self, contact_id: str) -> dict[str, Any]:
        """One contact; :class:`~votel_airflow.exceptions.VotelNotFoundError` if there is none.

        :param contact_id: the contact.
        """
        return dict(
            self.get(endpoints.path(endpoints.CONTACT, contact_id=require_id("contact_id", contact_id)))
        )

    def find_workflow(self, name: str) -> dict[str, Any]:
        """The one workflow called ``name``; none or several fail naming what exists or the ids.

        :param name: the workflow's name as the app shows it (exact match).
        """
        from votel_airflow.names import find

        return find(self, "workflow", name)  # type: ignore[arg-type]

    def find_agent(self, name: str) -> dict[str, Any]:
        """The one agent called ``name``; none or several fail naming what exists or the ids.

        :param name: the agent's name as the app shows it (exact match).
        """
        from votel_airflow.names import find

        return find(self, "agent", name)  # type: ignore[arg-type]

    def iter_call_logs(self, since: Any, until: Any, **filters: Any) -> Iterator[dict[str, Any]]:
        """Yield the call logs of ``[since, until)``, oldest first, a page at a time.

        :param since: window start, ISO 8601 string or datetime (naive means UTC).
        :param until: window end, excluded.
        :param filters: the endpoint's filters, e.g. ``agent_id=...``, ``status="completed"``.
        """
        return self._iter_window(endpoints.CALL_LOGS, since, until, filters)

    def iter_meeting_logs(self, since: Any, until: Any, **filters: Any) -> Iterator[dict[str, Any]]:
        """Yield the meeting logs of ``[since, until)``; arguments as :meth:`iter_call_logs`."""
        return self._iter_window(endpoints.MEETING_LOGS, since, until, filters)

    def iter_messaging_logs(self, since: Any, until: Any, **filters: Any) -> Iterator[dict[str, Any]]:
        """Yield the SMS, e-mail and WhatsApp messages (in and out) of ``[since, until)``;
        arguments as :meth:`iter_call_logs` (e.g. ``direction="outbound"``)."""
        return self._iter_window(endpoints.MESSAGING_LOGS, since, until, filters)

    def iter_bookings(self, since: Any, until: Any, **filters: Any) -> Iterator[dict[str, Any]]:
        """Yield the bookings of ``[since, until)``; arguments as :meth:`iter_call_logs`."""
        return self._iter_window(endpoints.BOOKINGS, since, until, filters)

    def iter_transactions(self, since: Any, until: Any, **filters: Any) -> Iterator[dict[str, Any]]:
        """Yield the payment transactions of ``[since, until)``; arguments as :meth:`iter_call_logs`."""
        return self._iter_window(endpoints.TRANSACTIONS, since, until, filters)

    def _iter_window(
        self, path: str, since: Any, until: Any, filters: Mapping[str, Any]
    ) -> Iterator[dict[str, Any]]:
        start, end = parse_instant("since", since), parse_instant("until", until)
        require_window(start, end)
        for name in ("limit", "offset"):
            if name in filters:
                raise fail(name, filters[name], "is managed by the iterator", f"Drop {name}=.")
        # Checked now, not at the first next(): bad input fails where the call is written.
        params = {**filters, "since": start.isoformat(), "until": end.isoformat()}
        return self.paginate(path, params=params)
