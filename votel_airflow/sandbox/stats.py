"""Request counters for the admin API: totals, statuses, injected faults, paths."""

from __future__ import annotations

from collections import Counter
from typing import Any


class Stats:
    """Counts kept in memory by the middleware (single event-loop thread, no lock needed)."""

    def __init__(self) -> None:
        self.total = 0
        self.rate_limited = 0
        self.by_status: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.paths: Counter[str] = Counter()

    def count(self, path: str, status: int) -> None:
        self.total += 1
        self.by_status[str(status)] += 1
        self.paths[path] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests_total": self.total,
            "by_status": dict(self.by_status),
            "faults": dict(self.faults),
            "rate_limited": self.rate_limited,
            "paths": dict(self.paths),
        }

    def reset(self) -> None:
        self.total = 0
        self.rate_limited = 0
        self.by_status.clear()
        self.faults.clear()
        self.paths.clear()
