"""The base of the operators that reach many people, each exactly once: SMS, e-mail, thread messages.

It owns the arguments every such send shares and the one call into the bulk-send engine
(:mod:`votel_airflow.sending`), so the three senders differ only in what they validate and post.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from votel_airflow.defaults import ON_AMBIGUOUS
from votel_airflow.exceptions import VotelInputError
from votel_airflow.links import VotelObjectLink, record_link
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.validation import check_max_concurrency, check_rate_limit, require_choice

if TYPE_CHECKING:
    # The engine (threads, dataclasses) is loaded when a send runs, not when a DAG is parsed.
    from votel_airflow.sending import SendRequest

ON_INVALID = ("fail", "skip")
DEFAULT_MAX_CONCURRENCY = 8


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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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
    ) -> dict[str, Any]:
        """Run the engine over ``recipients``; link the message when there is exactly one."""
        from votel_airflow.sending import send_each

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
