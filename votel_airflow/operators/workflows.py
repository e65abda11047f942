"""Workflows: enroll contacts, fire API triggers, start campaigns, set workflow variables.

Enrollment is the bulk side effect here: contacts go in batches of at most 500, each batch with
an idempotency key derived from its content and its result kept in the task state store, so a
retried task re-sends exactly the same batches (answered from the server's idempotency cache) or
skips the ones a previous try finished.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from votel_airflow import endpoints
from votel_airflow.compat import conf
from votel_airflow.conditions.workflows import CampaignCondition, campaign_summary
from votel_airflow.defaults import MAX_ENROLL_BATCH, ON_AMBIGUOUS, SKIP_REASONS
from votel_airflow.delivery.idempotency import TaskProgress, idempotency_key
from votel_airflow.delivery.xcom_results import capped_lists
from votel_airflow.exceptions import (
    VotelBadRequestError,
    VotelContactsNotFoundError,
    VotelError,
    VotelOutcomeUnknownError,
)
from votel_airflow.hooks.verbs import batch_digest
from votel_airflow.links import VotelObjectLink, record_link
from votel_airflow.names import require_one, resolve
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.operators.bulk_send import FROM_CONNECTION
from votel_airflow.validation import (
    as_str_list,
    fail,
    is_template,
    require_choice,
    require_id,
    require_int,
    require_outreach_channels,
)
from votel_airflow.waiting import result_from_event, wait_for

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelHook

ENROLL_OUTCOMES = ("enrolled", "already_enrolled", "not_found")
#: The policy's reasons that can keep a contact out of a workflow (no quiet hours, no caps here).
ENROLLMENT_SKIP_REASONS = ("opted_out", "suppressed")
#: Campaign statuses that mean "started": a 409 on start with one of these is our earlier try.
STARTED_CAMPAIGN_STATUSES = frozenset({"running", "completed", "paused"})


class EnrollContactOperator(VotelBaseOperator):
    """Enroll contacts in a workflow, in batches of at most 500; return the merged outcome.

    Returns ``{"enrolled": [...], "already_enrolled": [...], "not_found": [...]}`` (contact ids,
    ready for ``WorkflowEnrollmentSensor(contact_ids=...)``), each list cut to its first 1,000 ids
    with its exact count beside it (``enrolled_count``, ...), ``truncated`` when any list was cut,
    and ``results_uri``: the file ``results_destination`` names, which holds every list in full
    (see :mod:`votel_airflow.delivery.xcom_results`). Ids are de-duplicated and sorted before batching,
    so the batches (and their idempotency keys) depend only on the set of ids: a retry, even with
    the ids in another order, re-sends identical batches.

    With ``fail_on_not_found=True`` unknown ids fail the task, *after* the known contacts were
    enrolled: the API's enrollment answer is the only cheap way to learn which ids are unknown
    (checking first would cost one request per id and still race with deletions), and holding the
    valid contacts back would not make the unknown ones exist. The failure lists the unknown ids
    and is not retried.

    :param workflow_id: the workflow. Templated. Give this or ``workflow_name``.
    :param workflow_name: the workflow's name instead of its id, resolved when the task runs
        (exactly one workflow must have it), before anything is enrolled. Templated.
    :param contact_ids: one contact id or a list. Templated; an XComArg is accepted.
    :param fail_on_not_found: fail the task when any id is unknown (default: report them only).
    :param batch_size: contacts per request, 1 to 500.
    :param on_ambiguous: on a connection with ``server_idempotency`` false, a batch whose request
        failed ambiguously (timeout, lost connection, 5xx) is never sent again, by the hook or by a
        task retry. Its contacts are looked up in the workflow's enrollments (those found count as
        enrolled); the rest are returned as ``ambiguous`` (count) and ``ambiguous_recipients`` (at
        most 100). ``"fail"`` (default) then fails the task without retries, after every other
        batch; ``"skip"`` succeeds and reports them.
    :param results_destination: file (absolute path or URL) for every list in full, as one JSON
        object; the XCom result keeps the first 1,000 ids of each. Templated. Where Airflow has no
        task state store (3.0 to 3.2) the batches' progress is kept in files beside it, so a retry
        resumes; on a connection with ``server_idempotency`` false it is then required.
    :param channels: the channels the workflow reaches people on (``sms``, ``email``, ``whatsapp``,
        ``call``): a contact with one of them in ``dnd_channels`` (or, for ``sms``, a STOP reply from
        its phone) is not enrolled. Default None: only ``dnd`` keeps a contact out.
    :param suppression_list: a file (local path or object-storage URL) of numbers and addresses never
        reached, one per line: a contact whose phone or e-mail is on it is not enrolled. Default the
        connection extra. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.

    Enrolling someone lets the workflow reach them, so the outreach policy screens the contacts
    first (docs/guides/responsible-outreach.md): a contact it keeps out is not enrolled and the
    result counts it under ``skipped`` (reason -> count: ``opted_out``, ``suppressed``) with the ids
    in ``skipped_recipients`` (at most 100 per reason). Quiet hours and frequency caps are not
    applied here: the workflow sends later, on its own schedule.
    """

    template_fields: Sequence[str] = (
        "workflow_id", "workflow_name", "contact_ids", "results_destination", "suppression_list",
    )  # fmt: skip
    operator_extra_links = (VotelObjectLink(),)
    ui_color = "#fdf3e6"

    def __init__(
        self,
        *,
        workflow_id: str | None = None,
        workflow_name: str | None = None,
        contact_ids: Any,
        fail_on_not_found: bool = False,
        batch_size: int = MAX_ENROLL_BATCH,
        on_ambiguous: str = "fail",
        results_destination: Any = None,
        channels: Sequence[str] | None = None,
        suppression_list: Any = FROM_CONNECTION,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require_one("workflow", workflow_id, workflow_name)
        self.channels = channels
        if channels is not None and not is_template(channels):
            require_outreach_channels("channels", channels)
        self.suppression_list = suppression_list
        self.results_destination = results_destination
        self.on_ambiguous = require_choice("on_ambiguous", on_ambiguous, ON_AMBIGUOUS)
        self.workflow_id = workflow_id
        self.workflow_name = workflow_name
        self.contact_ids = contact_ids
        self.fail_on_not_found = bool(fail_on_not_found)
        self.batch_size = require_int("batch_size", batch_size, low=1, high=MAX_ENROLL_BATCH)

    def execute(self, context: Any) -> dict[str, Any]:
        from votel_airflow.delivery import ambiguity
        from votel_airflow.delivery.progress_stores import (
            ResultsFileProgressStore,
            progress_store,
            require_durable_write_ahead,
        )
        from votel_airflow.destinations import optional_storage_path  # fsspec: not at DAG parse time

        given = as_str_list("contact_ids", self.contact_ids)
        ids = sorted(set(given))
        destination = optional_storage_path("results_destination", self.results_destination)
        what = f"enroll {self.workflow_id or self.workflow_name}"
        trusted = ambiguity.log_mode(self.hook, what)
        store = progress_store(context, destination)
        if not trusted:
            require_durable_write_ahead(store, what, "results_destination")
        workflow_id = resolve(self.hook, "workflow", self.workflow_id, self.workflow_name)
        merged: dict[str, list[str]] = {outcome: [] for outcome in ENROLL_OUTCOMES}
        record_link(context, self.hook.settings.base_url, "workflow", workflow_id)
        skipped: dict[str, list[str]] = {reason: [] for reason in SKIP_REASONS}
        if not ids:
            self.log.warning("No contacts to enroll in workflow %s", workflow_id)
            return self._with_skips(capped_lists(merged, destination), skipped, given)
        path = endpoints.path(endpoints.WORKFLOW_ENROLLMENTS, workflow_id=workflow_id)
        progress = TaskProgress(context, f"votel_enroll_{workflow_id}", store)
        # Batched over every id, kept out or not, so a batch (its key, its record) is the same
        # whatever the policy says on a retry; only the contacts it clears are sent.
        batches = [ids[i : i + self.batch_size] for i in range(0, len(ids), self.batch_size)]
        finished = progress.done()
        unsent = [b for b in batches if finished.get(batch_digest(b)) is None or _unsent(finished, b)]
        # One screening for the batches still to send: none when an earlier try finished them all.
        kept_out = self._screen([i for batch in unsent for i in batch]) if unsent else {}
        doubtful: list[str] = []
        try:
            for number, batch in enumerate(batches, start=1):
                digest = batch_digest(batch)
                result = finished.get(digest)
                mark = ambiguity.marker(result)
                if mark in (ambiguity.PENDING, ambiguity.AMBIGUOUS):
                    # An earlier try may have enrolled it: never sent again.
                    doubtful.extend(batch)
                    continue
                if result is None or mark == ambiguity.UNSENT:
                    cleared = [i for i in batch if i not in kept_out]
                    batch_skips = {r: [i for i in batch if kept_out.get(i) == r] for r in SKIP_REASONS}
                    result = self._enroll_batch(
                        context, path, workflow_id, digest, cleared, progress, trusted, batch_skips
                    )
                    if result is None:
                        doubtful.extend(cleared)
                        for reason in SKIP_REASONS:
                            skipped[reason].extend(batch_skips[reason])
                        continue
                else:
                    self.log.info("Batch %d/%d was enrolled by an earlier try", number, len(batches))
                for outcome in ENROLL_OUTCOMES:
                    merged[outcome].extend(result.get(outcome) or [])
                earlier_skips = result.get("skipped") or {}
                for reason in SKIP_REASONS:
                    skipped[reason].extend(earlier_skips.get(reason) or [])
        finally:
            progress.flush()
        unresolved = self._reconcile(path, doubtful, merged) if doubtful else []
        self.log.info(
            "Workflow %s: %d enrolled, %d already enrolled, %d not found (%d batches)",
            workflow_id, len(merged["enrolled"]), len(merged["already_enrolled"]),
            len(merged["not_found"]), len(batches),
        )  # fmt: skip
        report = self._with_skips(capped_lists(merged, destination), skipped, given)
        if not trusted or unresolved:
            report["ambiguous"] = len(unresolved)
            report["ambiguous_recipients"] = unresolved[: ambiguity.MAX_AMBIGUOUS_LISTED]
        if unresolved and self.on_ambiguous == "fail":
            done = sum(len(merged[outcome]) for outcome in ENROLL_OUTCOMES)
            raise ambiguity.ambiguous_error(f"enroll {workflow_id}", unresolved, len(ids), done)
        if merged["not_found"] and self.fail_on_not_found:
            missing = merged["not_found"]
            raise VotelContactsNotFoundError(
                f"contact_ids: {len(missing)} of {len(ids)} contacts do not exist in Votel: {missing[:20]}"
                f"{' ...' if len(missing) > 20 else ''}. The other contacts were enrolled "
                f"({len(merged['enrolled'])} new, {len(merged['already_enrolled'])} already). Remove the "
                "unknown ids, or pass fail_on_not_found=False to only report them.",
                status_code=404,
                detail={"not_found": missing[:100]},
            )
        if trusted and isinstance(store, ResultsFileProgressStore):
            # Done: the results file is the record. On a server that ignores the keys the progress
            # stays, so that clearing the task does not enroll anyone again.
            store.discard()
        return report

    def _screen(self, ids: list[str]) -> dict[str, str]:
        """The contacts of ``ids`` the outreach policy keeps out of the workflow, with the reason
        (opt-outs and the suppression list only: the workflow sends later, on its own schedule)."""
        from votel_airflow.delivery.policy import enrollment_policies
        from votel_airflow.delivery.screening import screen_enrollment

        policies = enrollment_policies(
            dict(self.hook.settings.outreach), self.channels, suppression_list=self.suppression_list
        )
        verdict = screen_enrollment(self.hook, ids, policies)
        return {contact: reason for reason, who in verdict.skipped.items() for contact in who}

    def _with_skips(
        self, report: dict[str, Any], skipped: dict[str, list[str]], given: list[str]
    ) -> dict[str, Any]:
        """``report`` with the policy's skips (as the senders give them) and its log line."""
        from votel_airflow.delivery.outcome import skip_line, with_screening
        from votel_airflow.delivery.screening import Screening

        report = with_screening(report, Screening(skipped=skipped), len(given), len(given) - len(set(given)))
        # An enrollment never waits for quiet hours, and only opt-outs and suppression apply: the
        # counts stay whole, the lists name only what can happen here (XCom stays small).
        for field in ("waiting", "next_opening"):
            report.pop(field, None)
        report["skipped_recipients"] = {
            reason: report["skipped_recipients"][reason] for reason in ENROLLMENT_SKIP_REASONS
        }
        self.log.info("Enrollment outreach policy: skipped %s", skip_line(report))
        return report

    def _enroll_batch(
        self,
        context: Any,
        path: str,
        workflow_id: str,
        digest: str,
        batch: list[str],
        progress: TaskProgress,
        trusted: bool,
        skipped: dict[str, list[str]],
    ) -> dict[str, Any] | None:
        """One batch's request (``batch``: the contacts the policy cleared) and its record, with the
        contacts ``skipped`` by the policy; None when its outcome is unknown (never resent)."""
        from votel_airflow.delivery import ambiguity

        if not batch:
            # Everyone kept out: nothing to send, and the record says so for a retry.
            kept_out: dict[str, Any] = {**_batch_result({}), "skipped": skipped}
            progress.record(digest, kept_out)
            progress.flush()
            return kept_out

        if not trusted:
            # Write-ahead: a worker killed mid-request leaves the batch ambiguous, not sent twice.
            progress.record(digest, ambiguity.pending(time.time()))
            progress.flush()
        try:
            answer = self.hook.enroll_contacts(
                workflow_id,
                batch,
                idempotency_key=idempotency_key(context, "enroll", workflow_id, digest),
                screen=False,
            )
        except VotelOutcomeUnknownError as exc:
            progress.record(digest, ambiguity.ambiguous(str(exc), time.time()))
            progress.flush()
            return None
        except Exception as exc:
            if not trusted:
                progress.record(digest, ambiguity.unsent(type(exc).__name__))
                progress.flush()
            raise
        result: dict[str, Any] = {**_batch_result(answer), "skipped": skipped}
        # Flushed per batch: a batch is a large unit of work worth a store write.
        progress.record(digest, result)
        progress.flush()
        return result

    def _reconcile(self, path: str, doubtful: list[str], merged: dict[str, list[str]]) -> list[str]:
        """Move the doubtful contacts found enrolled into ``enrolled``; the rest, still unknown."""
        wanted = set(doubtful)
        found: set[str] = set()
        try:
            for enrollment in self.hook.paginate(path):
                contact_id = enrollment.get("contact_id")
                if contact_id in wanted:
                    found.add(contact_id)
        except VotelError as exc:
            self.log.warning("Could not read the enrollments to reconcile: %s", exc)
        merged["enrolled"].extend(c for c in doubtful if c in found)
        unresolved = [c for c in doubtful if c not in found]
        self.log.info(
            "%d contacts of ambiguous batches found enrolled; %d remain ambiguous",
            len(found),
            len(unresolved),
        )
        return unresolved


def _unsent(finished: Mapping[str, Any], batch: list[str]) -> bool:
    """Whether an earlier try recorded ``batch`` as never sent (refused, or its connection failed)."""
    from votel_airflow.delivery import ambiguity

    return ambiguity.marker(finished.get(batch_digest(batch))) == ambiguity.UNSENT


def _batch_result(answer: Any) -> dict[str, list[str]]:
    if not isinstance(answer, Mapping):
        answer = {}
    return {outcome: [str(i) for i in answer.get(outcome) or []] for outcome in ENROLL_OUTCOMES}


class TriggerWorkflowOperator(VotelBaseOperator):
    """Fire a workflow's API trigger with a payload, once per task instance; return the answer.

    The request carries an idempotency key of the task instance, so a retry does not fire the
    workflow twice.

    :param workflow_id: the workflow. Templated. Give this or ``workflow_name``.
    :param workflow_name: the workflow's name instead of its id, resolved when the task runs.
        Templated.
    :param payload: a JSON object handed to the workflow. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("workflow_id", "workflow_name", "payload")
    template_fields_renderers = {"payload": "json"}
    operator_extra_links = (VotelObjectLink(),)
    ui_color = "#fdf3e6"

    def __init__(
        self,
        *,
        workflow_id: str | None = None,
        workflow_name: str | None = None,
        payload: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require_one("workflow", workflow_id, workflow_name)
        self.workflow_id = workflow_id
        self.workflow_name = workflow_name
        self.payload = payload

    def execute(self, context: Any) -> Any:
        payload = self.payload if self.payload is not None else {}
        if not isinstance(payload, Mapping):
            raise fail("payload", payload, "must be a JSON object", "Pass a dict, e.g. {'order_id': 42}.")
        workflow_id = resolve(self.hook, "workflow", self.workflow_id, self.workflow_name)
        answer = self.hook.request(
            "POST",
            endpoints.path(endpoints.WORKFLOW_TRIGGER, workflow_id=workflow_id),
            json={"payload": dict(payload)},
            idempotency_key=idempotency_key(context, "trigger", workflow_id),
        )
        record_link(context, self.hook.settings.base_url, "workflow", workflow_id)
        return answer


class SetWorkflowVariableOperator(VotelBaseOperator):
    """Set a workflow variable (``PUT``: setting it twice leaves the same value); return it.

    :param name: the variable's name. Templated.
    :param value: any JSON value. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("name", "value")
    ui_color = "#fdf3e6"

    def __init__(self, *, name: str, value: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.value = value

    def execute(self, context: Any) -> Any:
        name = require_id("name", self.name)
        return self.hook.request(
            "PUT", endpoints.path(endpoints.WORKFLOW_VARIABLE, name=name), json={"value": self.value}
        )


def _switch_campaign(
    hook: VotelHook, switch_path: str, campaign_id: str, accepted: frozenset[str]
) -> tuple[Any, bool]:
    """POST a campaign's start, pause or resume; return ``(campaign, already)``.

    A 409 whose campaign is in an ``accepted`` status already counts as done (``already`` is
    True): it is what an earlier try of the same task left, and a retry must not fail on it.
    Any other error, or a 409 in another status, is raised as it came.
    """
    try:
        return hook.request("POST", endpoints.path(switch_path, campaign_id=campaign_id)), False
    except VotelBadRequestError as exc:
        if exc.status_code != 409:
            raise
        campaign = hook.get(endpoints.path(endpoints.CAMPAIGN, campaign_id=campaign_id))
        if campaign.get("status") not in accepted:
            raise
        return campaign, True


class StartCampaignOperator(VotelBaseOperator):
    """Start a campaign; optionally wait (in a worker or deferred) until it completes.

    Starting is idempotent for retries: when the API answers 409 because the campaign is already
    running, completed or paused (an earlier try started it), the task carries on as started.
    Returns the campaign's id, status and stats; with ``wait_for_completion`` the final ones.

    :param campaign_id: the campaign. Templated. Give this or ``campaign_name``.
    :param campaign_name: the campaign's name instead of its id, resolved when the task runs.
        Templated.
    :param wait_for_completion: wait until the campaign completes.
    :param fail_on_paused: while waiting, fail when the campaign is paused.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks while waiting.
    :param timeout: seconds to wait for completion before failing.
    :param cancel_on_timeout: pause the campaign when the wait for its completion times out
        (default False: a campaign usually outlives the wait of the task that started it).
    :param votel_conn_id: Airflow connection of type ``votel``.

    Killing the task while it runs (marked failed, or past its ``execution_timeout``) pauses the
    campaign it started (:meth:`on_kill`): nothing more is sent until someone resumes it.
    """

    template_fields: Sequence[str] = ("campaign_id", "campaign_name")
    operator_extra_links = (VotelObjectLink(),)
    ui_color = "#fdf3e6"

    def __init__(
        self,
        *,
        campaign_id: str | None = None,
        campaign_name: str | None = None,
        wait_for_completion: bool = False,
        fail_on_paused: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 30.0,
        timeout: float = 24 * 3600.0,
        cancel_on_timeout: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require_one("campaign", campaign_id, campaign_name)
        self.campaign_id = campaign_id
        self.campaign_name = campaign_name
        self.cancel_on_timeout = bool(cancel_on_timeout)
        #: The campaign this task started, while it runs: what :meth:`on_kill` pauses.
        self.started_campaign_id: str | None = None
        self.wait_for_completion = wait_for_completion
        self.fail_on_paused = fail_on_paused
        self.deferrable = deferrable
        if (
            isinstance(poke_interval, bool)
            or not isinstance(poke_interval, (int, float))
            or poke_interval <= 0
        ):
            raise fail("poke_interval", poke_interval, "must be a positive number of seconds", "E.g. 30.")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise fail("timeout", timeout, "must be a positive number of seconds", "E.g. 3600.")
        self.poke_interval = float(poke_interval)
        self.timeout = float(timeout)

    def execute(self, context: Any) -> Any:
        self.started_campaign_id = None  # an operator object may run more than once (dag.test())
        self.forget_kill()
        campaign_id = resolve(self.hook, "campaign", self.campaign_id, self.campaign_name)
        campaign = self._start(campaign_id)
        self.started_campaign_id = campaign_id
        self.stop_if_killed(campaign_id, lambda: self._pause(campaign_id), "campaign")
        record_link(context, self.hook.settings.base_url, "campaign", campaign_id)
        if not self.wait_for_completion:
            return campaign_summary(campaign)
        condition = CampaignCondition(campaign_id, self.fail_on_paused)
        return wait_for(
            self,
            condition,
            deferrable=self.deferrable,
            poke_interval=self.poke_interval,
            timeout=self.timeout,
            first=condition.evaluate([campaign]),
            on_timeout=lambda: self._pause_after_timeout(campaign_id),
        )

    def _pause_after_timeout(self, campaign_id: str) -> None:
        if self.cancel_on_timeout:
            from votel_airflow.delivery.kill_switch import stop

            what = f"campaign {campaign_id} (its wait timed out)"
            stop(self, what, endpoints.CAMPAIGN_PAUSE, campaign_id=campaign_id)

    def on_kill(self) -> None:
        """Pause the campaign this task started (Airflow calls this when the running task is
        marked failed or exceeds its ``execution_timeout``)."""
        super().on_kill()
        campaign_id = self.started_campaign_id
        if campaign_id is not None:
            self.stop_once(campaign_id, lambda: self._pause(campaign_id))

    def _pause(self, campaign_id: str) -> None:
        from votel_airflow.delivery.kill_switch import stop

        stop(self, f"campaign {campaign_id}", endpoints.CAMPAIGN_PAUSE, campaign_id=campaign_id)

    def _start(self, campaign_id: str) -> Any:
        campaign, already = _switch_campaign(
            self.hook, endpoints.CAMPAIGN_START, campaign_id, STARTED_CAMPAIGN_STATUSES
        )
        if already:
            self.log.info(
                "Campaign %s was already started (%s); carrying on", campaign_id, campaign["status"]
            )
        return campaign

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Turn the trigger's event into the final campaign or a clear failure."""
        return result_from_event(
            self.task_id,
            event,
            lambda waited_on: self._pause_after_timeout(str(waited_on.get("campaign_id"))),
        )


class _CampaignSwitchOperator(VotelBaseOperator):
    """Pause or resume one campaign; a 409 that shows the wanted state already is success."""

    template_fields: Sequence[str] = ("campaign_id", "campaign_name")
    operator_extra_links = (VotelObjectLink(),)
    ui_color = "#fdf3e6"
    #: the endpoint, the state it leads to, and the states in which there is nothing to do.
    switch_path: str
    wanted: str
    nothing_to_do: frozenset[str]

    def __init__(
        self, *, campaign_id: str | None = None, campaign_name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        require_one("campaign", campaign_id, campaign_name)
        self.campaign_id = campaign_id
        self.campaign_name = campaign_name

    def execute(self, context: Any) -> dict[str, Any]:
        campaign_id = resolve(self.hook, "campaign", self.campaign_id, self.campaign_name)
        record_link(context, self.hook.settings.base_url, "campaign", campaign_id)
        campaign, already = _switch_campaign(
            self.hook, self.switch_path, campaign_id, self.nothing_to_do | {self.wanted}
        )
        if already:
            self.log.info("Campaign %s is %s already; nothing to do", campaign_id, campaign.get("status"))
        else:
            self.log.warning("Campaign %s is now %s", campaign_id, campaign.get("status"))
        return campaign_summary(campaign)


class PauseCampaignOperator(_CampaignSwitchOperator):
    """Pause a running campaign: nothing more is sent until it resumes. Return its summary.

    A campaign that is not running (paused already, completed, still a draft) is left as it is
    and reported, not an error: pausing is the kill switch, and a retry must not fail on the
    pause its first try made.

    :param campaign_id: the campaign. Templated. Give this or ``campaign_name``.
    :param campaign_name: the campaign's name instead of its id, resolved when the task runs.
        Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    switch_path = endpoints.CAMPAIGN_PAUSE
    wanted = "paused"
    nothing_to_do = frozenset({"draft", "completed"})


class ResumeCampaignOperator(_CampaignSwitchOperator):
    """Resume a paused campaign where it stopped. Return its summary.

    A campaign running already (a retry after the resume went through) or completed is reported,
    not an error; resuming a draft fails (start it with :class:`StartCampaignOperator`).

    :param campaign_id: the campaign. Templated. Give this or ``campaign_name``.
    :param campaign_name: the campaign's name instead of its id, resolved when the task runs.
        Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    switch_path = endpoints.CAMPAIGN_RESUME
    wanted = "running"
    nothing_to_do = frozenset({"completed"})
