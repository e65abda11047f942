"""Which fault, if any, a request gets: drawn from a seeded generator so runs repeat."""

from __future__ import annotations

import random
from dataclasses import dataclass

from votel_airflow.sandbox.config import FaultConfig

ERROR_BEFORE = "error_before"
ERROR_AFTER = "error_after"
HTML_502 = "html_502"
DROP = "drop"
BURST_429 = "burst_429"
SLOW = "slow"


@dataclass(frozen=True)
class Decision:
    """The fault of one request: ``kind`` is None for a normal answer; ``delay`` in seconds."""

    kind: str | None
    delay: float


NO_FAULT = Decision(None, 0.0)


class FaultInjector:
    """Draws three numbers per request (fault, before/after, slow) from ``fault_seed``."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = FaultConfig()
        self._rng = random.Random(0)
        self._burst_left: dict[str, int] = {}
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        config.validate()
        self.config = config
        self._rng = random.Random(config.fault_seed)
        self._burst_left = {}

    @property
    def active(self) -> bool:
        c = self.config
        return bool(
            c.error_rate or c.html_502_rate or c.drop_rate or c.slow_rate or c.burst_429 or c.error_after_rate
        )

    def decide(self, api_key: str) -> Decision:
        c = self.config
        if not self.active:
            return NO_FAULT
        if c.burst_429:
            left = self._burst_left.setdefault(api_key, c.burst_429)
            if left > 0:
                self._burst_left[api_key] = left - 1
                return Decision(BURST_429, 0.0)
        pick, half, slow = self._rng.random(), self._rng.random(), self._rng.random()
        delay = c.slow_seconds if slow < c.slow_rate else 0.0
        if pick < c.error_rate:
            return Decision(ERROR_BEFORE if half < 0.5 else ERROR_AFTER, delay)
        pick -= c.error_rate
        if pick < c.html_502_rate:
            return Decision(HTML_502, delay)
        pick -= c.html_502_rate
        if pick < c.drop_rate:
            return Decision(DROP, delay)
        pick -= c.drop_rate
        if pick < c.error_after_rate:
            return Decision(ERROR_AFTER, delay)
        return Decision(None, delay)
