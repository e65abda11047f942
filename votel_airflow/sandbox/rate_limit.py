"""A token bucket per API key: ``rate`` tokens a second, room for ``max(1, rate)``."""

from __future__ import annotations

import math


class RateLimiter:
    """Decides whether a key may make a request now, and if not, how long to wait.

    :param per_second: requests per second per key; ``None`` turns the limit off.
    """

    def __init__(self, per_second: float | None = None) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self.per_second: float | None = None
        self.configure(per_second)

    def configure(self, per_second: float | None) -> None:
        if per_second is not None and per_second <= 0:
            raise ValueError("rate limit must be positive")
        self.per_second = per_second
        self._buckets.clear()

    def retry_after(self, key: str, now: float) -> int | None:
        """Take a token for ``key``; ``None`` when allowed, else whole seconds to wait (>= 1)."""
        rate = self.per_second
        if rate is None:
            return None
        capacity = max(1.0, rate)
        tokens, last = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / rate))
