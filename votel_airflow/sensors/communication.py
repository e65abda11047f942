"""Wait for sent messages to be delivered, tolerating a bounded share of failures.

The API reports delivery one message at a time (``GET /communication/messages/{id}``), so a wait
on 1,000 messages could cost 1,000 requests per round. Two things keep it cheap and correct:

* a terminal status (delivered, failed, undelivered) never changes, so the condition remembers
  every terminal status it has seen and never asks about that message again;
* each round asks about at most ``checks_per_round`` still-pending messages, taking turns through
  the list, so a round's cost is bounded and every message is asked about within a few rounds.

What is remembered travels with the condition: the trigger keeps one condition object for its
whole wait (and a restarted trigger starts from the snapshot taken when the sensor deferred, which
is only a cost, never a wrong answer), and the sensor keeps its condition between pokes and in the
task state store, so ``mode="reschedule"`` resumes where the previous poke stopped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

# conditions.Fetch and .Verdict are read when a condition runs: the module loads them then, not at parse.
from votel_airflow import conditions, endpoints
from votel_airflow.compat import PokeReturnValue
from votel_airflow.conditions import Condition
from votel_airflow.exceptions import VotelServerError
from votel_airflow.idempotency import TaskProgress
from votel_airflow.sensors.base import VotelSensor
from votel_airflow.validation import as_str_list, fail, require_int

#: Delivery statuses after which a message never changes again.
TERMINAL_MESSAGE_STATUSES = frozenset({"delivered", "failed", "undelivered"})
BAD_MESSAGE_STATUSES = frozenset({"failed", "undelivered"})
DEFAULT_CHECKS_PER_ROUND = 100
MAX_CHECKS_PER_ROUND = 1000
PROGRESS_NAME = "votel_message_delivery"


def require_max_failed(value: Any) -> int | float:
    """``max_failed`` as a count (int >= 0) or a fraction of the messages (float in [0, 1])."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and 0.0 <= value <= 1.0:
        return value
    raise fail(
        "max_failed",
        value,
        "must be a count (int >= 0) or a fraction of the messages (float from 0.0 to 1.0)",
        "Pass e.g. 5 or 0.02.",
    )


def allowed_failures(max_failed: int | float, total: int) -> int:
    """How many failed or undelivered messages are tolerated out of ``total``."""
    if isinstance(max_failed, float):
        return math.floor(max_failed * total + 1e-9)
    return max_failed


def message_ids_from(value: Any) -> list[str]:
    """Message ids from one id, a list, or a send summary (the ``message_ids`` of its XCom)."""
    if isinstance(value, Mapping):
        if value.get("message_ids_truncated"):
            raise fail(
                "message_ids",
                "<send summary>",
                "holds only the first 1,000 ids of a larger send",
                "Read the full list from the summary's results_uri and pass the ids.",
            )
        value = value.get("message_ids", value)
    ids = list(dict.fromkeys(as_str_list("message_ids", value)))
    if not ids:
        raise fail("message_ids", value, "is empty", "Pass the ids the send returned.")
    return ids


class MessageDeliveryCondition(Condition):
    """Every message reached a terminal status; fails when more than ``max_failed`` went bad.

    :param message_ids: the messages to watch.
    :param max_failed: failed plus undelivered messages tolerated: a count, or a fraction (float).
    :param checks_per_round: messages asked about per round at most.
    :param settled: terminal statuses already known, ``{message_id: status}``.
    """

    def __init__(
        self,
        message_ids: Sequence[str],
        max_failed: int | float = 0,
        checks_per_round: int = DEFAULT_CHECKS_PER_ROUND,
        settled: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            message_ids=list(message_ids),
            max_failed=max_failed,
            checks_per_round=checks_per_round,
            settled=dict(settled or {}),
        )
        self.message_ids = list(message_ids)
        self.allowed = allowed_failures(max_failed, len(self.message_ids))
        self.checks_per_round = checks_per_round
        known = set(self.message_ids)
        self.settled = {k: v for k, v in (settled or {}).items() if k in known}
        self._cursor = 0
        self._round: list[str] = []

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # Hand what was learnt so far to the trigger, so it does not ask about it again.
        class_path, kwargs = super().serialize()
        return class_path, {**kwargs, "settled": dict(self.settled)}

    def fetches(self) -> list[conditions.Fetch]:
        total = len(self.message_ids)
        chosen: list[str] = []
        index = self._cursor
        for _ in range(total):
            if len(chosen) >= self.checks_per_round:
                break
            message_id = self.message_ids[index % total]
            index += 1
            if message_id not in self.settled:
                chosen.append(message_id)
        self._cursor = index % total if total else 0
        self._round = chosen
        return [conditions.Fetch(endpoints.path(endpoints.MESSAGE, message_id=m)) for m in chosen]

    def evaluate(self, answers: list[Any]) -> conditions.Verdict:
        for message_id, answer in zip(self._round, answers, strict=True):
            status = answer.get("status") if isinstance(answer, Mapping) else None
            if not isinstance(status, str):
                raise VotelServerError(f"GET message {message_id} answered without a status")
            if status in TERMINAL_MESSAGE_STATUSES:
                self.settled[message_id] = status
        by_status: dict[str, list[str]] = {s: [] for s in sorted(TERMINAL_MESSAGE_STATUSES)}
        for message_id in self.message_ids:
            status = self.settled.get(message_id)
            if status is not None:
                by_status[status].append(message_id)
        bad = len(by_status["failed"]) + len(by_status["undelivered"])
        total = len(self.message_ids)
        counts = (
            f"{len(by_status['delivered'])} delivered, {len(by_status['failed'])} failed, "
            f"{len(by_status['undelivered'])} undelivered of {total}"
        )
        if bad > self.allowed:
            shown = (by_status["failed"] + by_status["undelivered"])[:20]
            return conditions.Verdict(
                done=True,
                failed=True,
                message=f"{bad} messages failed or undelivered, over the {self.allowed} tolerated "
                f"({counts}; e.g. {shown})",
                value=by_status,
            )
        if len(self.settled) < total:
            return conditions.Verdict(
                done=False, message=f"{total - len(self.settled)} messages still pending ({counts})"
            )
        return conditions.Verdict(done=True, message=f"all messages final: {counts}", value=by_status)


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
