"""Wait for sent messages to be delivered, tolerating a bounded share of failures.

The condition, and how it keeps a long wait cheap: :mod:`votel_airflow.conditions.communication`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from votel_airflow.compat import PokeReturnValue
from votel_airflow.conditions.communication import (
    BAD_MESSAGE_STATUSES,
    DEFAULT_CHECKS_PER_ROUND,
    MAX_CHECKS_PER_ROUND,
    TERMINAL_MESSAGE_STATUSES,
    MessageDeliveryCondition,
    allowed_failures,
    message_ids_from,
    require_max_failed,
)
from votel_airflow.delivery.idempotency import TaskProgress
from votel_airflow.sensors.base import VotelSensor
from votel_airflow.validation import require_int

PROGRESS_NAME = "votel_message_delivery"

# The condition and its helpers were defined here before they moved to
# votel_airflow.conditions.communication: deferred tasks serialized earlier name this module.
__all__ = [
    "BAD_MESSAGE_STATUSES",
    "TERMINAL_MESSAGE_STATUSES",
    "MessageDeliveryCondition",
    "MessageDeliverySensor",
    "allowed_failures",
    "message_ids_from",
    "require_max_failed",
]


class MessageDeliverySensor(VotelSensor):
    """Wait until messages are delivered; fail when more than ``max_failed`` fail or go undelivered.

    Returns ``{"delivered": [...], "failed": [...], "undelivered": [...]}`` (message ids). The
    wait fails without retries as soon as the failures exceed the tolerance (they can only grow).

    :param message_ids: one message id, a list, or a send operator's summary (its
        ``message_ids``). Templated; an XComArg is accepted.
    :param max_failed: failed plus undelivered messages tolerated: a count (``5``) or a fraction of
        the messages (``0.02``). Default 0: any failure fails the task.
    :param checks_per_round: messages asked about per poke (or trigger poll) at most, 1 to 1000;
        pending ones take turns, terminal ones are never asked about again.
    :param votel_conn_id: Airflow connection of type ``votel``.
    :param deferrable: hand the wait to the triggerer (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks (also the trigger's poll interval).
    :param timeout: seconds to wait before failing (separate from ``execution_timeout``).
    """

    template_fields: Sequence[str] = ("message_ids",)

    def __init__(
        self,
        *,
        message_ids: Any,
        max_failed: int | float = 0,
        checks_per_round: int = DEFAULT_CHECKS_PER_ROUND,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.message_ids = message_ids
        self.max_failed = require_max_failed(max_failed)
        self.checks_per_round = require_int(
            "checks_per_round", checks_per_round, low=1, high=MAX_CHECKS_PER_ROUND
        )
        self._condition: MessageDeliveryCondition | None = None
        self._progress: TaskProgress | None = None

    def condition(self, context: Any) -> MessageDeliveryCondition:
        # Built once per try and kept between pokes, so what it learnt is not asked again.
        if self._condition is None:
            ids = message_ids_from(self.message_ids)
            self._progress = TaskProgress(context, PROGRESS_NAME)
            per_round = self.checks_per_round
            if self.reschedule and not self._progress.durable:
                # Nothing survives a reschedule without a task state store: a capped round would
                # start over on the same messages every time, so look at all of them instead.
                per_round = len(ids)
            self._condition = MessageDeliveryCondition(ids, self.max_failed, per_round, self._progress.done())
        return self._condition

    def poke(self, context: Any) -> PokeReturnValue:
        try:
            return super().poke(context)
        finally:
            self._save_progress()

    def _save_progress(self) -> None:
        if self._condition is None or self._progress is None:
            return
        for message_id, status in self._condition.settled.items():
            if message_id not in self._progress:
                self._progress.record(message_id, status)
        self._progress.flush()
