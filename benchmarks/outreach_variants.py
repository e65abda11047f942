"""The outreach benchmark's measured children (see ``child.py`` and ``outreach.py``).

- ``policy``: :func:`~votel_airflow.delivery.screening.screen` of N recipients through a real
  ``VotelHook`` (the reads a send makes before its first SMS), timed on the wall clock;
- ``send``: ``SendSmsOperator`` to a sample of numbers on an account with an empty CRM, whose
  policy reads cost a few requests: the send's own pace at the rate limit;
- ``thread``: ``SendMessageOperator`` sending one thread message (``thread_message.py``).
"""

from __future__ import annotations

import time
from typing import Any

#: The policy of every measured send: SMS, default quiet hours (zones needed), a cap of 1 a day.
CAP = [1, "24h"]


def prepare_policy() -> None:
    from votel_airflow.delivery.screening import screen  # noqa: F401
    from votel_airflow.hooks.votel import VotelHook  # noqa: F401


def policy(first: int, count: int, look_up: bool = True) -> dict[str, Any]:
    """Screen ``count`` generated contacts' numbers from the ``first``; ``look_up=False`` is the
    policy before a few recipients were looked up (every read a listing), for comparison."""
    from votel_airflow.delivery import reads
    from votel_airflow.delivery.policy import resolve_policy
    from votel_airflow.delivery.screening import screen
    from votel_airflow.hooks.votel import VotelHook
    from votel_airflow.sandbox.bulk_outreach import generated_phone

    if not look_up:
        vars(reads)["MAX_RECIPIENTS_LOOKED_UP"] = 0  # in this child only
    recipients = [generated_phone(n) for n in range(first, first + count)]
    rules = resolve_policy("sms", {"max_per_recipient": CAP})
    hook = VotelHook()
    started = time.perf_counter()
    verdict = screen(hook, recipients, rules)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "send_now": len(verdict.send_now),
        "waiting": len(verdict.waiting),
        "skipped": {reason: len(who) for reason, who in verdict.skipped.items()},
    }


def prepare_send() -> None:
    from benchmarks.bulk_send_variants import prepare_ours

    prepare_ours()


def send(count: int, rate_limit: float, max_concurrency: int) -> dict[str, Any]:
    """``count`` SMS by the operator at ``rate_limit`` requests/s, under the cap of :data:`CAP`."""
    from benchmarks.bulk_send_variants import ours

    result = ours(count, rate_limit, max_concurrency, max_per_recipient=CAP)
    if result["error"]:
        # A send that failed part-way gives no rate at the limit: the child fails, as it always has.
        raise RuntimeError(result["error"])
    return result


def prepare_thread() -> None:
    from votel_airflow.operators.conversations import SendMessageOperator  # noqa: F401


def thread(contact_id: str, look_up: bool = True, run: int = 0) -> dict[str, Any]:
    """One SMS in ``contact_id``'s thread by ``SendMessageOperator`` (no quiet hours, the cap);
    ``look_up=False`` is the policy before contact ids were read by id (every contact listed)."""
    from benchmarks.common import make_context
    from votel_airflow.delivery import reads
    from votel_airflow.operators.conversations import SendMessageOperator

    if not look_up:
        vars(reads)["MAX_RECIPIENTS_LOOKED_UP"] = 0  # in this child only
    op = SendMessageOperator(
        task_id="thread",
        contact_ids=[contact_id],
        channel="sms",
        body="Your appointment is confirmed.",
        quiet_hours=None,
        max_per_recipient=CAP,
    )
    # Each run its own DAG run: a later run is a new message, not a resumed one.
    context = make_context("2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00", run_id=f"thread__{run}")
    started = time.perf_counter()
    summary = op.execute(context)
    return {"seconds": time.perf_counter() - started, "sent": summary.get("sent", 0)}
