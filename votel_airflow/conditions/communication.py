"""Messages: the wait for sent messages to be delivered, tolerating a bounded share of failures.

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

from votel_airflow import conditions, endpoints
from votel_airflow.conditions import Condition
from votel_airflow.validation import as_str_list, fail

#: Delivery statuses after which a message never changes again.
TERMINAL_MESSAGE_STATUSES = frozenset({"delivered", "failed", "undelivered"})
BAD_MESSAGE_STATUSES = frozenset({"failed", "undelivered"})
DEFAULT_CHECKS_PER_ROUND = 100
MAX_CHECKS_PER_ROUND = 1000


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
            status = conditions.answered_status(answer, f"GET message {message_id}")
            if status in TERMINAL_MESSAGE_STATUSES:
                self.settled[message_id] = status
        by_status: dict[str, list[str]] = {s: [] for s in sorted(TERMINAL_MESSAGE_STATUSES)}
        for message_id in self.message_ids:
            final = self.settled.get(message_id)
            if final is not None:
                by_status[final].append(message_id)
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
