"""The base of the operators that reach many people, each exactly once: SMS, e-mail, thread messages.

It owns the arguments every such send shares and the one call into the bulk-send engine
(:mod:`votel_airflow.delivery.engine`), so the three senders differ only in what they validate and post.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from votel_airflow.defaults import ON_AMBIGUOUS
from votel_airflow.exceptions import VotelApprovalRequiredError, VotelInputError, VotelQuietHoursError
from votel_airflow.links import VotelObjectLink, record_link
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.validation import (
    check_max_concurrency,
    check_rate_limit,
    fail,
    is_template,
    require_approval_threshold,
    require_choice,
    require_flag,
)

if TYPE_CHECKING:
    # The engine (threads, dataclasses) and the outreach policy are loaded when a send runs, not
    # when a DAG is parsed.
    from votel_airflow.delivery.engine import SendRequest
    from votel_airflow.delivery.policy import OutreachPolicy
    from votel_airflow.delivery.screening import Screening

ON_INVALID = ("fail", "skip")
DEFAULT_MAX_CONCURRENCY = 8
#: Left to the connection extra of the same name, then to the default (see delivery.policy, which
#: spells it the same: that module is loaded only when a send runs).
FROM_CONNECTION = "from_connection"
#: XCom key of the recipients waiting for their quiet hours, and of the summary so far, while the
#: task is deferred (kept in XCom, not in the deferral's kwargs: dag.test() drops those on resume).
WAITING_XCOM_KEY = "votel_outreach_waiting"


def split_valid(
    field: str, items: list[str], invalid: list[str], on_invalid: str, what: str, form: str
) -> tuple[list[str], list[str]]:
    """``(valid, invalid)``; with ``on_invalid="fail"`` any invalid item fails listing them all.

    ``form`` says what a valid item looks like, for the error message.
    """
    if invalid and on_invalid == "fail":
        more = f" (and {len(invalid) - 20} more)" if len(invalid) > 20 else ""
        raise VotelInputError(
            f"{field}: {len(invalid)} of {len(items)} {what} are invalid: {invalid[:20]}{more}. Nothing "
            f"was sent. Use {form}, or pass on_invalid='skip' to send to the valid ones only.",
            field=field,
        )
    bad = set(invalid)
    return [item for item in items if item not in bad], invalid


class BulkSendOperator(VotelBaseOperator):
    """Base of the senders: each recipient reached once, concurrently, within a rate.

    :param on_invalid: ``"fail"`` (any invalid or refused recipient fails the task; invalid ones
        before anything is sent) or ``"skip"`` (send to the rest and list them).
    :param max_concurrency: requests in flight at once, 1 to 32 (the hook's connection pool).
    :param rate_limit: requests per second at most (None: as fast as the API answers).
    :param results_destination: file for the full ``{recipient: id}`` JSON. Templated.
    :param on_ambiguous: on a connection with ``server_idempotency`` false, what a send that
        failed ambiguously (timeout, lost connection, 5xx; never sent again) does to the task:
        ``"fail"`` (default) fails it, without retries, once every other recipient is done;
        ``"skip"`` succeeds and lists them in ``ambiguous_recipients``.
    :param reconcile_ambiguous: look ambiguous sends up in the messaging log first (default True):
        those found count as sent once.
    :param quiet_hours: local hours nobody is reached, ``"HH:MM-HH:MM"`` (may cross midnight); default
        the connection extra ``quiet_hours``, else ``"21:00-08:00"`` for SMS and none for e-mail;
        None: no quiet hours (see docs/guides/responsible-outreach.md for every outreach setting).
    :param on_quiet_hours: recipients inside their quiet hours: ``"defer"`` (default: send to the
        others, then wait without a worker slot and send to them when their window opens), ``"skip"``
        (report them) or ``"fail"`` (fail before sending to anyone).
    :param max_per_recipient: ``(count, period)``, e.g. ``(1, "24h")``: at most ``count`` messages per
        person on this channel in ``period``, counted from the messaging log (every DAG and the app);
        default the connection extra, else none.
    :param opt_out_lookback: how far back STOP replies count (default the extra, else ``"365d"``).
    :param suppression_list: a file (local path or object-storage URL) of numbers and addresses never
        reached, one per line; default the connection extra. Templated.
    :param default_timezone: the zone of recipients whose zone cannot be known (default the extra,
        else none: they are skipped as ``unknown_timezone``).
    :param transactional: a one-time code, a receipt, a page: sent at any hour and past frequency
        caps, never past an opt-out or the suppression list. Default False.
    :param dry_run: preview only (default False): screen and render exactly as a send would, send
        nothing, and write one row per recipient (message, local time, channel, estimated cost,
        skip reason) to ``results_destination`` (``.jsonl``, ``.jsonl.gz`` or ``.parquet``), or to
        the task log when unset; return the totals (see :mod:`votel_airflow.delivery.preview`).
    :param require_approval_above: refuse to send to more than this many people (those the policy
        lets through now or after their quiet hours) unless an Airflow ``ApprovalOperator`` upstream
        in the same run was approved. Airflow 3.1+; None (default): no approval needed.
    :param approved_by: the task id of that approval; default every ``ApprovalOperator`` upstream.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    operator_extra_links = (VotelObjectLink(),)
    ui_color = "#e6f7ec"

    def __init__(
        self,
        *,
        on_invalid: str = "fail",
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        rate_limit: float | None = None,
        results_destination: Any = None,
        on_ambiguous: str = "fail",
        reconcile_ambiguous: bool = True,
        quiet_hours: str | None = FROM_CONNECTION,
        on_quiet_hours: str = FROM_CONNECTION,
        max_per_recipient: Any = FROM_CONNECTION,
        opt_out_lookback: Any = FROM_CONNECTION,
        suppression_list: Any = FROM_CONNECTION,
        default_timezone: str | None = FROM_CONNECTION,
        transactional: bool = False,
        dry_run: bool = False,
        require_approval_above: int | None = None,
        approved_by: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Not self.dry_run: BaseOperator.dry_run() renders the templates (``airflow tasks test``).
        self.preview_only = require_flag("dry_run", dry_run)
        self.require_approval_above = require_approval_threshold(
            "require_approval_above", require_approval_above
        )
        if approved_by is not None and not (isinstance(approved_by, str) and approved_by.strip()):
            raise fail(
                "approved_by", approved_by, "must be a task id", "Pass the ApprovalOperator's task_id."
            )
        self.approved_by = approved_by
        self.outreach = {
            "quiet_hours": quiet_hours, "on_quiet_hours": on_quiet_hours,
            "max_per_recipient": max_per_recipient, "opt_out_lookback": opt_out_lookback,
            "default_timezone": default_timezone,
        }  # fmt: skip
        # Checked when the DAG is parsed; the templated suppression list when the task runs.
        check_outreach_arguments(self.outreach)
        self.suppression_list = suppression_list
        self.transactional = bool(transactional)
        self.on_invalid = require_choice("on_invalid", on_invalid, ON_INVALID)
        self.on_ambiguous = require_choice("on_ambiguous", on_ambiguous, ON_AMBIGUOUS)
        self.reconcile_ambiguous = bool(reconcile_ambiguous)
        self.max_concurrency = check_max_concurrency(max_concurrency)
        self.rate_limit = check_rate_limit(rate_limit)
        self.results_destination = results_destination

    def send(
        self,
        context: Mapping[str, Any],
        recipients: Sequence[Any],
        build: Callable[[Any], SendRequest],
        *,
        name: str,
        invalid: Sequence[str] = (),
        channel: str | None = None,
        by_contact: bool = False,
    ) -> dict[str, Any]:
        """Screen ``recipients`` with the outreach policy of ``channel`` (None: not screened; with
        ``by_contact`` they are contact ids), run the engine over those that may be reached now,
        and link the message when there is exactly one. Recipients inside their quiet hours wait
        (see ``on_quiet_hours``)."""
        if channel is None:
            # A sender that names no channel (a subclass written before the policy) is not
            # screened: say so rather than let the policy's arguments look applied.
            self.log.warning(
                "%s: no channel given, so the outreach policy (opt-outs, quiet hours, caps) is not "
                "applied; pass channel= to send() (docs/guides/responsible-outreach.md).",
                name,
            )
            return self._send_now(context, recipients, build, name=name, invalid=invalid)
        from datetime import datetime

        from votel_airflow.delivery.engine import recipient_key, settled_recipients
        from votel_airflow.delivery.local_time import policy_now
        from votel_airflow.delivery.outcome import merge_resumed, skip_line, with_screening
        from votel_airflow.delivery.screening import screen

        earlier, now = None, None
        if self._resuming is not None:
            # Back from a deferral: only those still waiting, judged again (a STOP may have come).
            waiting, earlier, waited_until = set(self._resuming[0]), self._resuming[1], self._resuming[2]
            recipients, invalid = [r for r in recipients if r in waiting], ()
            # The trigger fired at or after the opening it waited for: judge no earlier than that,
            # even on a clock that lags (or is fixed, as in tests), or the task would wait forever.
            now = max(policy_now(), datetime.fromisoformat(waited_until)) if waited_until else None
        policy = self._policy(channel)
        if self.preview_only:
            return self._preview(recipients, invalid, build, policy, channel=channel, by_contact=by_contact)
        settled = settled_recipients(context, name, self.results_destination)
        screening = screen(
            self.hook,
            [r for r in recipients if recipient_key(r) not in settled],
            policy,
            now=now,
            by_contact=by_contact,
        )
        if screening.waiting and policy.on_quiet_hours == "fail":
            raise self._quiet_hours_error(screening)
        if screening.waiting and policy.on_quiet_hours == "skip":
            screening.skipped["quiet_hours"].extend(screening.waiting)
            screening.waiting.clear()
        if earlier is None:
            # Once, before the first part: the part after quiet hours sends to fewer, never more.
            self._require_approval(context, len(screening.send_now) + len(screening.waiting))
        cleared = set(screening.send_now)
        # In input order; those an earlier try settled go too: the engine counts them as resumed.
        going = [r for r in dict.fromkeys(recipients) if r in cleared or recipient_key(r) in settled]
        summary = self._send_now(context, going, build, name=name, invalid=invalid)
        unique = len(dict.fromkeys(recipients))
        summary = with_screening(summary, screening, len(recipients) + len(invalid), len(recipients) - unique)
        if earlier is not None:
            summary = merge_resumed(earlier, summary)
        self.log.info(
            "%s outreach policy: %d sent now; skipped %s", name, summary["sent"], skip_line(summary)
        )
        if screening.waiting:
            self._defer_waiting(context, screening, summary)
        return summary

    def _preview(
        self,
        recipients: Sequence[Any],
        invalid: Sequence[str],
        build: Callable[[Any], SendRequest],
        policy: OutreachPolicy,
        *,
        channel: str,
        by_contact: bool,
    ) -> dict[str, Any]:
        """Screen and render as the send would, send nothing, write the rows, return the totals."""
        from votel_airflow.delivery.local_time import policy_now
        from votel_airflow.delivery.preview import Totals, log_table, preview_rows, write_preview
        from votel_airflow.delivery.screening import screen

        moment = policy_now()
        screening = screen(self.hook, recipients, policy, now=moment, by_contact=by_contact, local_times=True)
        if screening.waiting and policy.on_quiet_hours != "defer":
            if policy.on_quiet_hours == "fail":
                self.log.warning(
                    "Preview: a real send would fail now (%s)", self._quiet_hours_error(screening)
                )
            screening.skipped["quiet_hours"].extend(screening.waiting)
            screening.waiting.clear()
        rows = preview_rows(recipients, invalid, screening, build, channel=channel, moment=moment)
        totals = Totals(channel)
        uri = None
        if self.results_destination:
            uri = write_preview(self.results_destination, rows, totals)
        else:
            self.log.info("Preview (dry_run, nothing sent):\n%s", "\n".join(log_table(rows, totals)))
        unique = len(dict.fromkeys(recipients))
        summary = totals.summary(len(recipients) + len(invalid), len(recipients) - unique, screening, uri)
        if self.require_approval_above is not None:
            reached = summary["would_send"] + summary["waiting"]
            summary["approval_required"] = reached > self.require_approval_above
        self.log.info(
            "Preview of %s, nothing sent: %d would be sent now, %d after their quiet hours, %d invalid; "
            "skipped %s; %s segment(s), estimated cost %s%s",
            channel, summary["would_send"], summary["waiting"], summary["skipped_invalid"],
            ", ".join(f"{n} {reason}" for reason, n in summary["skipped"].items()),
            summary["segments"] if summary["segments"] is not None else "-", summary["estimated_cost"],
            f"; rows in {uri}" if uri else "",
        )  # fmt: skip
        return summary

    def _require_approval(self, context: Mapping[str, Any], reached: int) -> None:
        """Refuse, before any request, a send to more than ``require_approval_above`` people that no
        approval in this run allowed."""
        limit = self.require_approval_above
        if limit is None or reached <= limit:
            return
        from airflow.providers.standard.operators.hitl import ApprovalOperator

        if self.approved_by:
            approvals = [self.approved_by]
        elif self.has_dag():  # type: ignore[no-untyped-call]
            approvals = sorted(
                t.task_id for t in self.get_flat_relatives(upstream=True) if isinstance(t, ApprovalOperator)
            )
        else:
            approvals = []
        problem = None
        if not approvals:
            problem = "no ApprovalOperator is upstream of this task"
        for task_id in approvals:
            answer = context["ti"].xcom_pull(task_ids=task_id) or {}
            chosen = list(answer.get("chosen_options") or []) if isinstance(answer, Mapping) else []
            if chosen != [ApprovalOperator.APPROVE]:
                problem = f"approval task {task_id!r} gave {chosen or 'no answer'} in this run"
                break
        if problem is None:
            self.log.info("Sending to %d people, approved by %s", reached, ", ".join(approvals))
            return
        raise VotelApprovalRequiredError(
            f"{reached} people would be reached, more than require_approval_above={limit}, and {problem}; "
            "nothing was sent. Put an ApprovalOperator (Airflow 3.1+) between a dry_run=True preview "
            "and this task and approve it (dags_examples/votel_outreach_with_approval.py), name it with "
            "approved_by=, or raise require_approval_above."
        )

    def _send_now(
        self,
        context: Mapping[str, Any],
        recipients: Sequence[Any],
        build: Callable[[Any], SendRequest],
        *,
        name: str,
        invalid: Sequence[str],
    ) -> dict[str, Any]:
        from votel_airflow.delivery.engine import send_each

        summary = send_each(
            self.hook,
            context,
            list(recipients),
            build,
            name=name,
            max_concurrency=self.max_concurrency,
            rate_limit=self.rate_limit,
            on_rejected=self.on_invalid,
            invalid=list(invalid),
            results_destination=self.results_destination,
            on_ambiguous=self.on_ambiguous,
            reconcile=self.reconcile_ambiguous,
        )
        # A link names one object: a bulk send has no single message to show, so none is set.
        ids = summary["message_ids"]
        if len(ids) == 1:
            record_link(context, self.hook.settings.base_url, "message", ids[0])
        return summary

    #: ``(waiting recipients, summary so far, ISO instant waited for)`` while resuming a deferral.
    _resuming: tuple[list[str], dict[str, Any], str | None] | None = None

    def _policy(self, channel: str) -> OutreachPolicy:
        from votel_airflow.delivery.policy import resolve_policy

        return resolve_policy(
            channel,
            dict(self.hook.settings.outreach),
            **self.outreach,
            suppression_list=self.suppression_list,
            transactional=self.transactional,
        )

    def _quiet_hours_error(self, screening: Screening) -> VotelQuietHoursError:
        waiting = list(screening.waiting)
        opening = screening.next_opening
        return VotelQuietHoursError(
            f"{len(waiting)} recipient(s) are inside their quiet hours ({waiting[:20]}), the first "
            f"window opens at {opening.isoformat() if opening else '?'}; nothing was sent "
            "(on_quiet_hours='fail'). Run the task after that, or pass on_quiet_hours='defer' to send "
            "to the others now and to them when their window opens, or 'skip'."
        )

    def _defer_waiting(
        self, context: Mapping[str, Any], screening: Screening, summary: dict[str, Any]
    ) -> None:
        """Wait, without a worker slot, until the first waiting recipient's window opens."""
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        opening = screening.next_opening
        assert opening is not None
        state = {"waiting": list(screening.waiting), "summary": summary, "until": opening.isoformat()}
        context["ti"].xcom_push(key=WAITING_XCOM_KEY, value=state)
        self.log.info(
            "%d recipient(s) wait for their quiet hours to end; deferring until %s",
            len(screening.waiting), opening.isoformat(),
        )  # fmt: skip
        self.defer(trigger=DateTimeTrigger(moment=opening), method_name="resume_after_quiet_hours")

    def resume_after_quiet_hours(self, context: Any, event: Any = None) -> dict[str, Any]:
        """Send to the recipients who waited for their quiet hours (each once, under the keys the
        first part would have used), judging them again first."""
        state = context["ti"].xcom_pull(task_ids=self.task_id, key=WAITING_XCOM_KEY) or {}
        self._resuming = (
            list(state.get("waiting") or []),
            dict(state.get("summary") or {}),
            state.get("until"),
        )
        return dict(self.execute(context))


def check_outreach_arguments(arguments: Mapping[str, Any]) -> None:
    """Check the outreach arguments that are not templates, before any request."""
    given = {k: v for k, v in arguments.items() if v != FROM_CONNECTION and not is_template(v)}
    if not given:
        return
    from votel_airflow.delivery.policy import check_policy_arguments

    check_policy_arguments(**given)
