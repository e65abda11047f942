"""Agents: start outbound AI calls, create and update agents, deploy versions, sync knowledge bases."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from votel_airflow import endpoints
from votel_airflow.conditions.calls import (
    DEFAULT_FAIL_ON,
    CallCompletedCondition,
    call_summary,
    require_fail_on,
)
from votel_airflow.defaults import ON_AMBIGUOUS
from votel_airflow.delivery.idempotency import TaskProgress, idempotency_key
from votel_airflow.earlier_creations import find_created, instant_of, run_started_after
from votel_airflow.exceptions import VotelOutcomeUnknownError, VotelServerError
from votel_airflow.links import VotelObjectLink, record_link
from votel_airflow.names import require_one, resolve
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.operators.bulk_send import FROM_CONNECTION, WAITING_XCOM_KEY, check_outreach_arguments
from votel_airflow.validation import (
    fail,
    is_template,
    is_unset,
    require_choice,
    require_dialable,
    require_id,
    require_phone,
    require_text,
)
from votel_airflow.waiting import result_from_event, wait_for

if TYPE_CHECKING:
    from votel_airflow.delivery.screening import Screening
    from votel_airflow.operators.agent_knowledge import SyncKnowledgeBaseOperator

NAME_MAX = 200
PROMPT_MAX = 100_000
DEFAULT_CALL_TIMEOUT = 3600.0
DEFAULT_CALL_POKE_INTERVAL = 10.0
CALL_PROGRESS = "votel_call"
AGENT_FIELDS = ("id", "name", "enabled", "voice_id", "deployed_version_id", "updated_at")
VERSION_FIELDS = ("id", "agent_id", "number", "created_at", "deployed")


def _pick(obj: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {name: obj.get(name) for name in names if name in obj}


def _require_json_object(field: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise fail(field, value, "must be a mapping of names to values", "Pass e.g. {'first_name': 'Ada'}.")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise fail(
            field, value, "is not JSON-serializable", "Use strings, numbers, lists and dicts."
        ) from None
    return dict(value)


def _call_key(context: Any, agent_id: str, to: str) -> str:
    """The idempotency key of this task instance's call from ``agent_id`` to ``to``, which also
    names the call in the task's progress."""
    return idempotency_key(context, "call", agent_id, to)


class StartCallOperator(VotelBaseOperator):
    """Start an outbound AI voice call, exactly once per task instance; optionally wait for its end.

    The request carries an idempotency key built from the task instance, the agent and the number,
    so a retried task gets the first call back instead of ringing the person again.

    Without waiting it returns ``{id, status, ...}`` as the call started (status ``queued``). With
    ``wait_for_completion=True`` it polls until the call ends; with ``deferrable=True`` the wait is
    handed to the triggerer instead. Either way it returns the ended call ``{id, status, outcome,
    duration_seconds, summary, ...}`` and fails when its status is in ``fail_on``.

    :param agent_id: the agent that makes the call. Templated. Give this or ``agent_name``.
    :param agent_name: the agent's name instead of its id, resolved when the task runs (exactly
        one agent must have it). Templated.
    :param to: the number to call, E.164. Templated.
    :param contact_id: the CRM contact being called, if any. Templated.
    :param variables: values for the agent's prompt variables (JSON-safe). Templated.
    :param wait_for_completion: wait until the call ends and return the ended call.
    :param deferrable: wait in the triggerer (implies waiting). Default False rather than
        ``[operators] default_deferrable``, so a global setting never turns a fire-and-forget call
        start into a wait.
    :param poke_interval: seconds between status checks while waiting.
    :param timeout: seconds to wait for the end of the call (separate from ``execution_timeout``).
    :param fail_on: terminal statuses that fail the task (default ``["failed"]``).
    :param cancel_on_timeout: cancel the call when the wait for its end times out (default True:
        a call nobody waits for any more should not ring on).
    :param on_ambiguous: on a connection with ``server_idempotency`` false, a call start that
        failed ambiguously (timeout, lost connection, 5xx) is never made again, by the hook or by
        a task retry: ``"fail"`` (default) fails the task without retries, ``"skip"`` succeeds and
        returns ``{"id": None, "status": "ambiguous", "ambiguous": 1, "ambiguous_recipients":
        [to]}``. (A call appears in the call log only once it ends, so it is not reconciled.)
    :param results_destination: file (absolute path or URL) for the started call's summary, as
        JSON. Templated. On an Airflow without a task state store (3.0 to 3.2) the id of the call
        started is kept in files beside it, for a retry to return; on a connection with
        ``server_idempotency`` false it is required there: the record written before the call
        starts, which keeps a retry from ringing again, is kept there too.
    :param quiet_hours: local hours nobody is called, ``"HH:MM-HH:MM"`` (may cross midnight);
        default the connection extra ``quiet_hours``, else ``"21:00-08:00"``; None: no quiet hours
        (docs/guides/responsible-outreach.md explains every outreach setting).
    :param on_quiet_hours: a person inside their quiet hours: ``"defer"`` (default: wait without a
        worker slot until their window opens, then call once), ``"skip"`` (return the skip, call
        nobody) or ``"fail"`` (fail before calling).
    :param max_per_recipient: ``(count, period)``, e.g. ``(1, "24h")``: at most ``count`` calls per
        person in ``period``, counted from the call log (every DAG and the app, calls still going
        included); default the connection extra, else none. A retry does not count the call its
        earlier try started: it returns that call (on Airflow 3.0-3.2 given ``results_destination``).
    :param suppression_list: a file (local path or object-storage URL) of numbers never called, one
        per line; default the connection extra. Templated.
    :param default_timezone: the zone of a number whose zone cannot be known (default the extra,
        else none: the call is skipped as ``unknown_timezone``).
    :param transactional: a page to the person on call: at any hour and past frequency caps, never
        past an opt-out or the suppression list. Default False.
    :param votel_conn_id: Airflow connection of type ``votel``.

    Before the call, the outreach policy judges the number on the channel ``call``: a contact with
    ``dnd`` or ``call`` in ``dnd_channels``, a number on the suppression list, a capped person or one
    inside their quiet hours is not called. The task then returns ``{"id": None, "status":
    "skipped", "reason", "to"}`` with the senders' skip fields (``skipped``, ``skipped_recipients``,
    ``waiting``, ``next_opening``). STOP replies are SMS keywords and do not stop calls.

    Killing the task (marked failed while it runs, or past its ``execution_timeout``) cancels the
    call it started (:meth:`on_kill`); a call that had already ended is left as it is.
    """

    template_fields: Sequence[str] = (
        "agent_id", "agent_name", "to", "contact_id", "variables", "results_destination",
        "suppression_list",
    )  # fmt: skip
    operator_extra_links = (VotelObjectLink(),)
    ui_color = "#fff3e0"

    def __init__(
        self,
        *,
        agent_id: str | None = None,
        agent_name: str | None = None,
        to: str,
        contact_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = False,
        poke_interval: float = DEFAULT_CALL_POKE_INTERVAL,
        timeout: float = DEFAULT_CALL_TIMEOUT,
        fail_on: Sequence[str] = DEFAULT_FAIL_ON,
        cancel_on_timeout: bool = True,
        on_ambiguous: str = "fail",
        results_destination: Any = None,
        quiet_hours: str | None = FROM_CONNECTION,
        on_quiet_hours: str = FROM_CONNECTION,
        max_per_recipient: Any = FROM_CONNECTION,
        suppression_list: Any = FROM_CONNECTION,
        default_timezone: str | None = FROM_CONNECTION,
        transactional: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require_one("agent", agent_id, agent_name)
        self.outreach = {
            "quiet_hours": quiet_hours, "on_quiet_hours": on_quiet_hours,
            "max_per_recipient": max_per_recipient, "default_timezone": default_timezone,
        }  # fmt: skip
        # Checked when the DAG is parsed; the templated suppression list when the task runs.
        check_outreach_arguments(self.outreach)
        self.suppression_list = suppression_list
        self.transactional = bool(transactional)
        self.results_destination = results_destination
        self.on_ambiguous = require_choice("on_ambiguous", on_ambiguous, ON_AMBIGUOUS)
        if isinstance(to, str) and not is_template(to):
            require_phone("to", to)
        if not isinstance(poke_interval, (int, float)) or poke_interval <= 0:
            raise fail("poke_interval", poke_interval, "must be a positive number of seconds", "E.g. 10.")
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise fail("timeout", timeout, "must be a positive number of seconds", "E.g. 3600.")
        self.agent_id = agent_id
        self.agent_name = agent_name
        self.to = to
        self.contact_id = contact_id
        self.variables = variables
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poke_interval = float(poke_interval)
        self.timeout = float(timeout)
        self.fail_on = require_fail_on(fail_on)
        self.cancel_on_timeout = bool(cancel_on_timeout)
        #: The call this task started, while it runs: what :meth:`on_kill` cancels.
        self.started_call_id: str | None = None

    def execute(self, context: Any) -> dict[str, Any]:
        from votel_airflow.delivery import ambiguity
        from votel_airflow.delivery.engine import settled
        from votel_airflow.delivery.progress_stores import progress_store, require_durable_write_ahead
        from votel_airflow.destinations import optional_storage_path  # fsspec: not at DAG parse time

        self.started_call_id = None  # an operator object may run more than once (dag.test())
        self.forget_kill()
        to = require_dialable("to", self.to)
        destination = optional_storage_path("results_destination", self.results_destination)
        store = progress_store(context, destination)
        progress = TaskProgress(context, CALL_PROGRESS, store)
        agent_id = None
        if progress.done():
            # An earlier try of this task instance started (or may have started) a call. If it is
            # this one, it is not judged again, as the engine resumes texts: its own call must not
            # count against a cap, and it is never started twice whatever the policy says now.
            agent_id = resolve(self.hook, "agent", self.agent_id, self.agent_name)
        if agent_id is None or _call_key(context, agent_id, to) not in settled(progress):
            skipped = self._screen(context, to)
            if skipped is not None:
                return skipped
        trusted = ambiguity.log_mode(self.hook, f"call {to}")
        if not trusted:
            require_durable_write_ahead(store, f"call {to}", "results_destination")
        body: dict[str, Any] = {"to": to}
        if not is_unset(self.contact_id):
            body["contact_id"] = require_id("contact_id", self.contact_id)
        variables = _require_json_object("variables", self.variables)
        if agent_id is None:
            agent_id = resolve(self.hook, "agent", self.agent_id, self.agent_name)
        if variables:
            body["variables"] = variables
        call = self._start(context, agent_id, to, body, progress, trusted)
        if call is None:
            return {"id": None, "status": "ambiguous", "ambiguous": 1, "ambiguous_recipients": [to]}
        if not isinstance(call, Mapping) or not isinstance(call.get("id"), str):
            raise VotelServerError(f"POST /agents/{agent_id}/calls answered without a call id: {call!r:.200}")
        call_id = self.started_call_id = call["id"]
        self.stop_if_killed(call_id, lambda: self._cancel(call_id), "call")
        record_link(context, self.hook.settings.base_url, "call", call_id)
        self.log.info("Call %s to %s started (%s)", call_id, to, call.get("status"))
        if destination is not None:
            from votel_airflow.stream_to_file import write_document

            write_document(destination, json.dumps(call_summary(call), default=str).encode())
        if not (self.wait_for_completion or self.deferrable):
            return call_summary(call)
        result: dict[str, Any] = wait_for(
            self,
            CallCompletedCondition(call_id, self.fail_on),
            deferrable=self.deferrable,
            poke_interval=self.poke_interval,
            timeout=self.timeout,
            on_timeout=lambda: self._cancel_after_timeout(call_id),
        )
        return result

    #: The ISO instant a quiet-hours deferral waited for, while resuming from it.
    _waited_until: str | None = None

    def _screen(self, context: Any, to: str) -> dict[str, Any] | None:
        """The outreach policy's verdict on calling ``to`` now: None to call, else the skip to
        return; defers (no worker slot) when ``to`` waits for their quiet hours to end."""
        from datetime import datetime

        from votel_airflow.delivery.local_time import policy_now
        from votel_airflow.delivery.outcome import skip_line, with_screening
        from votel_airflow.delivery.policy import resolve_policy
        from votel_airflow.delivery.screening import screen

        policy = resolve_policy(
            "call", dict(self.hook.settings.outreach), **self.outreach,
            suppression_list=self.suppression_list, transactional=self.transactional,
        )  # fmt: skip
        now = None
        if self._waited_until:
            # The trigger fired at or after the opening it waited for: judge no earlier than that,
            # even on a lagging (or fixed) clock, or the task would wait again for the same opening.
            now = max(policy_now(), datetime.fromisoformat(self._waited_until))
        screening = screen(self.hook, [to], policy, now=now)
        if screening.send_now:
            return None
        if screening.waiting and policy.on_quiet_hours == "defer":
            self._defer_until_open(context, screening)
        if screening.waiting and policy.on_quiet_hours == "fail":
            from votel_airflow.exceptions import VotelQuietHoursError

            opening = screening.next_opening
            raise VotelQuietHoursError(
                f"{to} is inside their quiet hours; their window opens at "
                f"{opening.isoformat() if opening else '?'}. Nothing was called (on_quiet_hours='fail'). "
                "Run the task after that, or pass on_quiet_hours='defer' to call when it opens."
            )
        screening.skipped["quiet_hours"].extend(screening.waiting)
        screening.waiting.clear()
        reason = next(reason for reason, who in screening.skipped.items() if who)
        skip = {"id": None, "status": "skipped", "reason": reason, "to": to}
        summary = with_screening(skip, screening, 1, 0)
        self.log.warning(
            "Not calling %s: %s (the outreach policy; docs/guides/responsible-outreach.md); skipped %s",
            to, reason, skip_line(summary),
        )  # fmt: skip
        return summary

    def _defer_until_open(self, context: Any, screening: Screening) -> None:
        """Wait, without a worker slot, until the person's quiet hours end everywhere they may be."""
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        opening = screening.next_opening
        assert opening is not None
        # In XCom, not the deferral's kwargs: dag.test() drops those on resume.
        context["ti"].xcom_push(key=WAITING_XCOM_KEY, value={"until": opening.isoformat()})
        self.log.info("Inside their quiet hours: deferring the call until %s", opening.isoformat())
        self.defer(trigger=DateTimeTrigger(moment=opening), method_name="resume_after_quiet_hours")

    def resume_after_quiet_hours(self, context: Any, event: Any = None) -> dict[str, Any]:
        """Call the person whose quiet hours kept the call waiting, judging them again first (an
        opt-out may have come overnight); the call carries the key the first part would have used."""
        state = context["ti"].xcom_pull(task_ids=self.task_id, key=WAITING_XCOM_KEY) or {}
        self._waited_until = state.get("until")
        return self.execute(context)

    def _start(
        self,
        context: Any,
        agent_id: str,
        to: str,
        body: dict[str, Any],
        progress: TaskProgress,
        trusted: bool,
    ) -> Any:
        """``POST`` the call, at most once per task instance.

        The call's id is kept in ``progress`` (the task state store, or files beside
        ``results_destination``; else memory): a retry re-reads the call its earlier try started
        instead of asking again, so no second call follows even once the server has forgotten the
        key. On a server without idempotency (``trusted`` false) the call's fate is also written
        ahead of the request (pending, then the call's id, or ambiguous), so a retry never starts
        a call whose start may have happened. Returns None for an ambiguous start with ``"skip"``.
        """
        from votel_airflow.delivery import ambiguity

        key = _call_key(context, agent_id, to)
        earlier = progress.done().get(key)
        if isinstance(earlier, str):
            self.log.info("Call %s was started by an earlier try", earlier)
            return self.hook.get(endpoints.path(endpoints.CALL, call_id=earlier))
        if trusted:
            # The key makes a repeat harmless here: nothing to write ahead, only the id to keep.
            call = self.hook.start_call(agent_id, **body, idempotency_key=key, screen=False)
            call_id = call.get("id") if isinstance(call, Mapping) else None
            if isinstance(call_id, str):
                progress.record(key, call_id)
                progress.flush()
            return call
        if earlier is None or ambiguity.marker(earlier) == ambiguity.UNSENT:
            progress.record(key, ambiguity.pending(time.time()))
            progress.flush()
            try:
                call = self.hook.start_call(agent_id, **body, idempotency_key=key, screen=False)
            except VotelOutcomeUnknownError as exc:
                progress.record(key, ambiguity.ambiguous(str(exc), time.time()))
                progress.flush()
            except Exception as exc:
                # Refused or never sent (402, 422, 429, a refused connection): no call exists.
                progress.record(key, ambiguity.unsent(type(exc).__name__))
                progress.flush()
                raise
            else:
                call_id = call.get("id") if isinstance(call, Mapping) else None
                # Without an id there is nothing to re-read: as unknown as a lost answer.
                unknown = ambiguity.ambiguous("answered without a call id", time.time())
                progress.record(key, call_id if isinstance(call_id, str) else unknown)
                progress.flush()
                return call
        # Pending (the worker died mid-request) or ambiguous: the call may exist; never again.
        if self.on_ambiguous == "skip":
            self.log.warning("Call to %s may or may not have started; not started again (skip)", to)
            return None
        raise ambiguity.ambiguous_error(f"call {agent_id}", [to], 1, 0)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Return the ended call from the trigger's event, or fail clearly (cancelling the call
        first when the wait timed out and ``cancel_on_timeout`` is set)."""
        result: dict[str, Any] = result_from_event(
            self.task_id, event, lambda waited_on: self._cancel_after_timeout(str(waited_on.get("call_id")))
        )
        return result

    def _cancel_after_timeout(self, call_id: str) -> None:
        if self.cancel_on_timeout:
            from votel_airflow.delivery.kill_switch import cancel_call

            cancel_call(self, call_id, " (its wait timed out)")

    def on_kill(self) -> None:
        """Cancel the call this task started, if it is still going (Airflow calls this when the
        running task is marked failed or exceeds its ``execution_timeout``)."""
        super().on_kill()
        call_id = self.started_call_id
        if call_id is not None:
            self.stop_once(call_id, lambda: self._cancel(call_id))

    def _cancel(self, call_id: str) -> None:
        from votel_airflow.delivery.kill_switch import cancel_call

        cancel_call(self, call_id)


class CreateAgentOperator(VotelBaseOperator):
    """Create an AI agent, once per task instance; return ``{id, name, enabled, ...}``.

    The created id is kept in the task state store (Airflow 3.3+), so a retry returns the same
    agent instead of creating a second one. The API takes no ``Idempotency-Key`` here, so before
    creating, a try also looks for an agent with exactly this configuration created since the run
    began (an answer lost after the server created it, or any retry on Airflow 3.0 to 3.2) and
    returns it. Two tasks of one DAG run asking for identical agents therefore get one.

    :param name: the agent's name. Templated.
    :param prompt: its system prompt. Templated.
    :param voice_id: a voice from ``GET /tts-voices``. Templated.
    :param enabled: whether it may take and make calls.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("name", "prompt", "voice_id")
    operator_extra_links = (VotelObjectLink(),)

    def __init__(
        self,
        *,
        name: str,
        prompt: str,
        voice_id: str | None = None,
        enabled: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.prompt = prompt
        self.voice_id = voice_id
        self.enabled = enabled

    def execute(self, context: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": require_text("name", self.name, max_length=NAME_MAX),
            "prompt": require_text("prompt", self.prompt, max_length=PROMPT_MAX),
            "enabled": bool(self.enabled),
        }
        if not is_unset(self.voice_id):
            body["voice_id"] = require_id("voice_id", self.voice_id)
        progress = TaskProgress(context, "votel_created_agent")
        if "agent" in progress:
            agent = self.hook.get(endpoints.path(endpoints.AGENT, agent_id=progress.done()["agent"]))
            self.log.info("Agent %s was created by a previous try; not creating another", agent["id"])
        else:
            agent = self._created_earlier(context, body) or self.hook.request(
                "POST", endpoints.AGENTS, json=body
            )
            progress.record("agent", agent["id"])
            progress.flush()
        record_link(context, self.hook.settings.base_url, "agent", agent["id"])
        return _pick(agent, AGENT_FIELDS)

    def _created_earlier(self, context: Any, body: Mapping[str, Any]) -> dict[str, Any] | None:
        # POST /agents honours no Idempotency-Key (the contract promises none there), so an agent
        # whose answer was lost, or made by a try whose progress did not survive, is found by what
        # it was asked to be; see votel_airflow.earlier_creations.
        since = run_started_after(context)
        if since is None:
            return None
        wanted = {"voice_id": None, **body}
        found = find_created(self.hook.paginate(endpoints.AGENTS), wanted, since)
        if found is None:
            return None
        self.log.info(
            "Agent %s was created by a previous try of this task; not creating another", found["id"]
        )
        return dict(found)


class UpdateAgentOperator(VotelBaseOperator):
    """Change an agent's name, prompt, voice or enabled flag; fields left None stay as they are.

    :param agent_id: the agent to change. Templated. Give this or ``agent_name``.
    :param agent_name: the agent's name instead of its id, resolved when the task runs. Templated.
    :param name: new name. Templated.
    :param prompt: new system prompt. Templated.
    :param voice_id: new voice. Templated.
    :param enabled: enable or disable the agent.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("agent_id", "agent_name", "name", "prompt", "voice_id")
    operator_extra_links = (VotelObjectLink(),)

    def __init__(
        self,
        *,
        agent_id: str | None = None,
        agent_name: str | None = None,
        name: str | None = None,
        prompt: str | None = None,
        voice_id: str | None = None,
        enabled: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require_one("agent", agent_id, agent_name)
        if name is None and prompt is None and voice_id is None and enabled is None:
            raise fail(
                "name", None, "nothing to change", "Give at least one of name, prompt, voice_id, enabled."
            )
        self.agent_id = agent_id
        self.agent_name = agent_name
        self.name = name
        self.prompt = prompt
        self.voice_id = voice_id
        self.enabled = enabled

    def execute(self, context: Any) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.name is not None:
            body["name"] = require_text("name", self.name, max_length=NAME_MAX)
        if self.prompt is not None:
            body["prompt"] = require_text("prompt", self.prompt, max_length=PROMPT_MAX)
        if self.voice_id is not None:
            body["voice_id"] = require_id("voice_id", self.voice_id)
        if self.enabled is not None:
            body["enabled"] = bool(self.enabled)
        agent_id = resolve(self.hook, "agent", self.agent_id, self.agent_name)
        # Setting the same fields twice leaves the same agent, so the key only lets the hook retry.
        agent = self.hook.request(
            "PATCH",
            endpoints.path(endpoints.AGENT, agent_id=agent_id),
            json=body,
            idempotency_key=idempotency_key(context, "agent-update", agent_id),
        )
        record_link(context, self.hook.settings.base_url, "agent", agent_id)
        return _pick(agent, AGENT_FIELDS)


class DeployAgentVersionOperator(VotelBaseOperator):
    """Make a version of an agent live: a given ``version_id``, or a new snapshot of its config.

    Without ``version_id`` the agent's current configuration is snapshotted as a new version first;
    that version's id is kept in the task state store so a retry deploys it rather than taking a
    second snapshot; where that store is missing or the snapshot's answer was lost, a version
    taken since the run began and after the agent last changed is deployed instead. Returns the
    deployed version ``{id, agent_id, number, created_at, deployed}``.

    :param agent_id: the agent. Templated. Give this or ``agent_name``.
    :param agent_name: the agent's name instead of its id, resolved when the task runs. Templated.
    :param version_id: the version to deploy; None snapshots the current config. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("agent_id", "agent_name", "version_id")
    operator_extra_links = (VotelObjectLink(),)

    def __init__(
        self,
        *,
        agent_id: str | None = None,
        agent_name: str | None = None,
        version_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require_one("agent", agent_id, agent_name)
        self.agent_id = agent_id
        self.agent_name = agent_name
        self.version_id = version_id

    def execute(self, context: Any) -> dict[str, Any]:
        agent_id = resolve(self.hook, "agent", self.agent_id, self.agent_name)
        if not is_unset(self.version_id):
            version_id = require_id("version_id", self.version_id)
        else:
            version_id = self._snapshot(context, agent_id)
        # Deploying the same version twice changes nothing, so the key only lets the hook retry.
        version = self.hook.request(
            "POST",
            endpoints.path(endpoints.AGENT_VERSION_DEPLOY, agent_id=agent_id, version_id=version_id),
            idempotency_key=idempotency_key(context, "deploy", agent_id, version_id),
        )
        record_link(context, self.hook.settings.base_url, "agent", agent_id)
        self.log.info("Agent %s now runs version %s (%s)", agent_id, version_id, version.get("number"))
        return _pick(version, VERSION_FIELDS)

    def _snapshot(self, context: Any, agent_id: str) -> str:
        progress = TaskProgress(context, "votel_agent_snapshot")
        if agent_id in progress:
            version_id = str(progress.done()[agent_id])
            self.log.info("Reusing version %s snapshotted by a previous try", version_id)
            return version_id
        version = self._snapshotted_earlier(context, agent_id) or self.hook.request(
            "POST", endpoints.path(endpoints.AGENT_VERSIONS, agent_id=agent_id)
        )
        version_id = str(version["id"])
        progress.record(agent_id, version_id)
        progress.flush()
        return version_id

    def _snapshotted_earlier(self, context: Any, agent_id: str) -> Mapping[str, Any] | None:
        # A snapshot takes no key either (see CreateAgentOperator._created_earlier). A version
        # taken during this run and after the agent last changed holds its current configuration,
        # so it is the one an earlier try took: the contract lists no config with a version.
        since = run_started_after(context)
        if since is None:
            return None
        changed = instant_of(self.hook.get(endpoints.path(endpoints.AGENT, agent_id=agent_id)), "updated_at")
        if changed is None:
            return None
        versions = self.hook.paginate(endpoints.path(endpoints.AGENT_VERSIONS, agent_id=agent_id))
        found = find_created(versions, {}, max(since, changed))
        if found is not None:
            self.log.info(
                "Version %s was snapshotted by a previous try of this task; reusing it", found["id"]
            )
        return found


def __getattr__(name: str) -> Any:
    """Re-export the knowledge-base sync (it belongs to this section) on first use (PEP 562).

    Loaded lazily so a DAG that only starts calls does not pay for the sync's module.
    """
    if name == "SyncKnowledgeBaseOperator":
        from votel_airflow.operators.agent_knowledge import SyncKnowledgeBaseOperator

        return SyncKnowledgeBaseOperator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CreateAgentOperator",
    "DeployAgentVersionOperator",
    "StartCallOperator",
    "SyncKnowledgeBaseOperator",
    "UpdateAgentOperator",
]
