"""Life over time, computed at read time from creation timestamps: no background threads.

Calls: queued, ringing, then in progress (answered calls only) for ``call_stage_seconds``
each; terminal at 3 stages. The last digit of ``to`` decides the end: 0 no_answer, 8 busy,
9 failed, anything else completed with outcome 1-3 "booked", 4-5 "callback_requested",
6-7 "not_interested".
Messages: queued, then sent, for ``message_stage_seconds`` each; then delivered, except SMS to
numbers ending in 13 (undelivered) or 66 (failed), and e-mail to an address starting with
"bounce" (failed).
A call canceled before it ends is ``canceled`` from then on (no outcome; talk time up to then).
Enrollments: active for ``enrollment_seconds``, then completed. Jobs: pending, then processing,
for ``job_seconds`` each, then completed. Campaigns: running for ``enrollment_seconds`` after
start, then completed.
"""

from __future__ import annotations

from typing import Any

from votel_airflow.sandbox import clock

CALL_STAGES = 3
COMPLETED = "completed"

_TERMINAL_BY_DIGIT = {"0": "no_answer", "8": "busy", "9": "failed"}
_OUTCOME_BY_DIGIT = {
    "1": "booked",
    "2": "booked",
    "3": "booked",
    "4": "callback_requested",
    "5": "callback_requested",
    "6": "not_interested",
    "7": "not_interested",
}
SUMMARIES = {
    "booked": "The contact agreed to a meeting and a slot was booked.",
    "callback_requested": "The contact asked to be called back later.",
    "not_interested": "The contact said they are not interested.",
    "no_answer": "Nobody answered the call.",
    "busy": "The line was busy.",
    "failed": "The call could not be connected.",
    "canceled": "The call was canceled before it ended.",
}
TRANSCRIPTS = {
    "booked": "Agent: Hi, this is Ava from Votel. Do you have a minute?\n"
    "Contact: Sure.\nAgent: Could we book a short demo this week?\n"
    "Contact: Yes, Thursday works.\nAgent: Great, you're booked.",
    "callback_requested": "Agent: Hi, this is Ava from Votel. Do you have a minute?\n"
    "Contact: Not right now, call me back tomorrow.\nAgent: Will do, thanks!",
    "not_interested": "Agent: Hi, this is Ava from Votel. Do you have a minute?\n"
    "Contact: No thanks, I'm not interested.\nAgent: Understood, have a good day.",
}


def call_end(to: str) -> tuple[str, str | None]:
    """The terminal status and outcome of a call to ``to``."""
    digit = to[-1:] or "1"
    status = _TERMINAL_BY_DIGIT.get(digit, COMPLETED)
    return status, _OUTCOME_BY_DIGIT.get(digit) if status == COMPLETED else None


def call_duration(to: str) -> int:
    """Simulated talk time of an answered call, in seconds: 30 to 129, fixed by the number."""
    digits = "".join(ch for ch in to if ch.isdigit())
    return 30 + int(digits[-3:-1] or "0")


def call_view(doc: dict[str, Any], t0: float, stage: float, now: float) -> dict[str, Any]:
    """A call as it stands at ``now``; ``doc`` is its final form."""
    elapsed = now - t0
    if elapsed >= CALL_STAGES * stage:
        return doc
    view = dict(doc, ended_at=None, duration_seconds=None, outcome=None, summary=None)
    view.update(transcript=None, recording_url=None, started_at=None)
    if elapsed < stage:
        view["status"] = "queued"
    elif elapsed < 2 * stage or doc["status"] != COMPLETED:
        view["status"] = "ringing"
    else:
        view["status"] = "in_progress"
        view["started_at"] = doc["started_at"]
    return view


def restaged_call(doc: dict[str, Any], t0: float, stage: float) -> tuple[dict[str, Any], float]:
    """A call's final form timed for ``stage`` seconds a stage, and when the logs list it (its end)."""
    end = t0 + CALL_STAGES * stage
    answered = doc["started_at"] is not None
    timed = dict(doc, ended_at=clock.iso(end), started_at=clock.iso(t0 + 2 * stage) if answered else None)
    return timed, end


def canceled_call(doc: dict[str, Any], t0: float | None, stage: float, now: float) -> dict[str, Any] | None:
    """The call ``doc`` canceled at ``now``, or None when it had already ended."""
    if t0 is None or now - t0 >= CALL_STAGES * stage:
        return None
    view = call_view(doc, t0, stage, now)
    talked = int(now - t0 - 2 * stage) if view["status"] == "in_progress" else 0
    return dict(
        view,
        status="canceled",
        ended_at=clock.iso(now),
        duration_seconds=max(talked, 0),
        summary=SUMMARIES["canceled"],
    )


def message_final_status(channel: str, to: str) -> str:
    if channel == "email":
        return "failed" if to.lower().startswith("bounce") else "delivered"
    if to.endswith("13"):
        return "undelivered"
    if to.endswith("66"):
        return "failed"
    return "delivered"


def message_view(doc: dict[str, Any], t0: float | None, stage: float, now: float) -> dict[str, Any]:
    """An outbound message as it stands at ``now``; inbound ones never change."""
    if t0 is None or now - t0 >= 2 * stage:
        return doc
    status = "queued" if now - t0 < stage else "sent"
    return dict(doc, status=status, delivered_at=None)


def timed_status(t0: float, now: float, stages: list[tuple[str, float]], final: str) -> str:
    """The status reached after ``now - t0`` seconds through consecutive timed stages."""
    elapsed = now - t0
    for name, seconds in stages:
        if elapsed < seconds:
            return name
        elapsed -= seconds
    return final


def enrollment_view(doc: dict[str, Any], seconds: float, now: float) -> dict[str, Any]:
    view = {key: value for key, value in doc.items() if not key.startswith("_")}
    if doc["status"] == "active" and now - doc["_t0"] >= seconds:
        view["status"] = "completed"
        view["finished_at"] = clock.iso(doc["_t0"] + seconds)
    return view


def job_status(doc: dict[str, Any], seconds: float, now: float) -> str:
    return timed_status(doc["_t0"], now, [("pending", seconds), ("processing", seconds)], COMPLETED)
