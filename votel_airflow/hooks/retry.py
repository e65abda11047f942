"""The retry policy shared by the sync and the async hook: what may be retried, and how long to wait.

Kept free of any HTTP library so both hooks (requests and httpx) ask the same questions and get the
same answers; each hook only translates its library's outcome into an :class:`Outcome`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from enum import Enum

import pendulum

# Methods whose repetition cannot do anything twice. PUT sets a value (stage, variable), so a
# second PUT leaves the same state. POST, PATCH and DELETE need an Idempotency-Key first.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT"})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class Failure(Enum):
    """How an attempt failed, as far as retrying is concerned."""

    STATUS = "status"
    #: The request never left (connect refused or timed out): safe to resend for any method.
    NOT_SENT = "not_sent"
    #: The request may have reached the server (reset, read timeout, broken response).
    MAYBE_SENT = "maybe_sent"


@dataclass(frozen=True)
class Outcome:
    """A failed attempt, described without reference to an HTTP library.

    :param failure: the kind of failure.
    :param status_code: the response status for ``Failure.STATUS``.
    :param retry_after: seconds from a ``Retry-After`` header, if one came.
    """

    failure: Failure
    status_code: int | None = None
    retry_after: float | None = None


def parse_retry_after(value: str | None, *, now: pendulum.DateTime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # RFC 5322's "-0000" gives a naive datetime; HTTP dates are always UTC.
        when = when.replace(tzinfo=timezone.utc)
    current = now or pendulum.now("UTC")
    return max(0.0, (when - current).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, ``Retry-After`` honoured up to a cap.

    :param max_retries: retries after the first attempt; 0 disables retrying.
    :param backoff_base: first backoff in seconds, doubled on every retry.
    :param backoff_max: longest backoff in seconds.
    :param retry_after_max: longest ``Retry-After`` we agree to wait, in seconds.
    """

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0

    def may_retry(self, method: str, outcome: Outcome, *, idempotent: bool) -> bool:
        """Whether the failed attempt may be repeated without risking a double side effect."""
        if outcome.failure is Failure.STATUS:
            if outcome.status_code not in RETRYABLE_STATUSES:
                return False
            # A 429 is refused before any work is done, so it is safe whatever the method.
            if outcome.status_code == 429:
                return True
        elif outcome.failure is Failure.NOT_SENT:
            return True
        return idempotent or method.upper() in SAFE_METHODS

    def wait_seconds(self, retry_number: int, outcome: Outcome, rng: random.Random | None = None) -> float:
        """Seconds before retry ``retry_number`` (1 for the first retry)."""
        draw: float = (rng or random).random()
        if outcome.retry_after is not None:
            asked = min(outcome.retry_after, self.retry_after_max)
            # A sliver of jitter keeps a fleet of workers from returning in the same millisecond.
            return asked + draw * min(0.1 * asked, 0.25)
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (retry_number - 1))
        # "Equal jitter": at least half the backoff, so a retry storm still spreads out.
        return ceiling / 2 + draw * ceiling / 2

    def next_wait(
        self, retry_number: int, method: str, outcome: Outcome, *, idempotent: bool
    ) -> float | None:
        """Seconds to wait before retry ``retry_number``, or None to give up and raise."""
        if retry_number > self.max_retries or not self.may_retry(method, outcome, idempotent=idempotent):
            return None
        return self.wait_seconds(retry_number, outcome)
